package mail

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Metered counts what its Sender does: keel_emails_sent_total and
// keel_email_failures_total (each failed attempt, retries included), present
// at 0 from the start so that rate() and alerts work before the first email.
type Metered struct {
	Sender
	sent, failed prometheus.Counter
}

// NewMetered wraps s and registers its counters on reg.
func NewMetered(s Sender, reg prometheus.Registerer) (*Metered, error) {
	m := &Metered{
		Sender: s,
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keel_emails_sent_total",
			Help: "Emails accepted by the SMTP server (or written to the log by the console mailer).",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keel_email_failures_total",
			Help: "Attempts to send an email that failed; the job retries them.",
		}),
	}
	for _, c := range []prometheus.Collector{m.sent, m.failed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Send sends through the wrapped Sender and counts the outcome.
func (m *Metered) Send(ctx context.Context, msg Message) error {
	if err := m.Sender.Send(ctx, msg); err != nil {
		m.failed.Inc()
		return err
	}
	m.sent.Inc()
	return nil
}
