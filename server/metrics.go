package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/password"
)

// MetricsHandler serves the node's metrics in the Prometheus formats:
// keyward's counters, read when scraped, and Go's runtime and the
// process's own. Serve it on a listener of its own (keyward serve
// --metrics-addr), not next to the public routes.
func (s *Server) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{m: s.core.Service.Metrics(), hasher: s.core.hasher},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// collector turns keyward's atomics into Prometheus samples at scrape
// time: the hot paths pay for an atomic add and nothing else.
type collector struct {
	m      *metrics.Metrics
	hasher *password.Hasher
}

var (
	durationDesc = prometheus.NewDesc("keyward_http_request_duration_seconds",
		"Time to answer HTTP requests, by route pattern (without the base path), method of the pattern and status class.",
		[]string{"route", "method", "status"}, nil)
	hashesDesc = prometheus.NewDesc("keyward_password_hashes_in_flight",
		"Password hashes and verifications (and other memory-hard hashes) running now.", nil, nil)
	outboxDesc = prometheus.NewDesc("keyward_mail_outbox_pending",
		"Mails waiting in the outbox to be sent.", nil, nil)
	webhookOutboxDesc = prometheus.NewDesc("keyward_webhook_outbox_pending",
		"Webhook deliveries waiting to be sent (0 without webhooks).", nil, nil)
)

func counterDesc(v *metrics.CounterVec) *prometheus.Desc {
	return prometheus.NewDesc(v.Name, v.Help, []string{v.Label}, nil)
}

// Describe sends nothing: the collector is unchecked, so that its
// counter descriptions need no package-level state.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.m.Counters() {
		desc := counterDesc(v)
		for i, label := range v.Values() {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v.Value(i)), label)
		}
	}
	bounds := metrics.DurationBuckets()
	for _, r := range c.m.Routes() {
		for i := range metrics.Classes {
			class, h := r.Class(i)
			cumulative, count, sum := h.Snapshot()
			if count == 0 {
				continue
			}
			buckets := make(map[float64]uint64, len(bounds))
			for j, b := range bounds {
				buckets[b.Seconds()] = cumulative[j]
			}
			ch <- prometheus.MustNewConstHistogram(durationDesc, count, sum.Seconds(), buckets, r.Pattern, r.Method, class)
		}
	}
	inFlight := 0
	if c.hasher != nil {
		inFlight = c.hasher.InFlight()
	}
	ch <- prometheus.MustNewConstMetric(hashesDesc, prometheus.GaugeValue, float64(inFlight))
	ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(c.m.MailOutboxPending.Load()))
	ch <- prometheus.MustNewConstMetric(webhookOutboxDesc, prometheus.GaugeValue, float64(c.m.WebhookOutboxPending.Load()))
}
