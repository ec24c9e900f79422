package keyward

import "time"

// PasswordChecksInFlight is, for tests, how many password checks the
// address of ip has in flight on this node.
func (s *Service) PasswordChecksInFlight(ip string) int {
	return s.checks.inFlight(clientAddress(ip))
}

// DeviceTokenIssuedAt is, for tests, a device token of the account issued at t.
func (s *Service) DeviceTokenIssuedAt(accountID string, t time.Time) (string, error) {
	return s.newDeviceToken(accountID, t)
}
