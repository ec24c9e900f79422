package keyward

// PasswordChecksInFlight is, for tests, how many password checks the
// address of ip has in flight on this node.
func (s *Service) PasswordChecksInFlight(ip string) int {
	return s.checks.inFlight(clientAddress(ip))
}
