package provider

import (
	"context"
	"slices"
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

// Consented reports whether userID has consented to every one of scopes
// for clientID before.
func (p *Provider) Consented(ctx context.Context, userID int64, clientID string, scopes []string) (bool, error) {
	given, err := p.store.Consent(ctx, userID, clientID)
	if err != nil || given == nil {
		return false, err
	}
	for _, s := range scopes {
		if !slices.Contains(given, s) {
			return false, nil
		}
	}
	return true, nil
}
