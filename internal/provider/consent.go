package provider

import (
	"context"
)

// Consents returns the consents userID gave, oldest first.
func (p *Provider) Consents(ctx context.Context, userID int64) ([]Consent, error) {
	return p.store.ListConsents(ctx, userID)
}

// WithdrawConsent forgets userID's consent to clientID and ends their
// grants to it; ErrNoConsent when there is none.
func (p *Provider) WithdrawConsent(ctx context.Context, userID int64, clientID string) error {
	return p.store.WithdrawConsent(ctx, userID, clientID)
}
