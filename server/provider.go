package server

// keel as an OpenID Provider (internal/provider, docs/provider.md), the
// provider tag's operations: the protocol endpoints, mounted from the spec's
// x-keel-protocol operations and served by pkg/op; the discovery documents;
// the login step's API; and RFC 7591 registration's handler (the rest of it
// is in dynamic_registration.go).

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/provider"
	"github.com/keelhq/keel/internal/token"
)

var (
	errNotOP     = &Error{Status: http.StatusNotFound, Detail: "keel is not an OpenID Provider on this install"}
	errNoRequest = &Error{Status: http.StatusNotFound,
		Detail: "no such authorization request: it expired or was answered; the app starts again"}
)

// serveProvider serves a protocol endpoint (x-keel-protocol) with pkg/op.
func (s *Server) serveProvider(c echo.Context) error {
	if s.op == nil {
		return errNotOP
	}
	s.op.ServeHTTP(c.Response(), c.Request())
	return nil
}

// discovery is the OpenID Connect Discovery / RFC 8414 document: keel's
// issuer and keys, and the provider's endpoints when it is one.
func (s *Server) discovery() oapi.OpenIDConfiguration {
	iss := s.cfg.Issuer
	doc := oapi.OpenIDConfiguration{Issuer: iss, JwksURI: iss + "/.well-known/jwks.json"}
	if s.registrationOpen() {
		// Only while it registers: a client that finds it may register.
		reg := iss + "/oauth2/register"
		doc.RegistrationEndpoint = &reg
	}
	if s.op == nil {
		return doc
	}
	str := func(v string) *string { return &v }
	list := func(v ...string) *[]string { return &v }
	doc.AuthorizationEndpoint = str(iss + provider.PathAuthorize)
	doc.TokenEndpoint = str(iss + provider.PathToken)
	doc.UserinfoEndpoint = str(iss + provider.PathUserinfo)
	doc.RevocationEndpoint = str(iss + provider.PathRevoke)
	doc.IntrospectionEndpoint = str(iss + provider.PathIntrospect)
	doc.EndSessionEndpoint = str(iss + provider.PathEndSession)
	doc.DeviceAuthorizationEndpoint = str(iss + provider.PathDeviceAuthorization)
	doc.ScopesSupported = list(provider.Scopes...)
	doc.ResponseTypesSupported = list("code")
	doc.ResponseModesSupported = list("query")
	doc.GrantTypesSupported = list(clients.GrantAuthorizationCode, clients.GrantRefreshToken, clients.GrantClientCredentials, clients.GrantDeviceCode)
	doc.SubjectTypesSupported = list("public")
	doc.IDTokenSigningAlgValuesSupported = list(provider.RS256)
	doc.CodeChallengeMethodsSupported = list("S256")
	doc.AcrValuesSupported = list(db.AAL1, db.AAL2)
	doc.TokenEndpointAuthMethodsSupported = list("client_secret_basic", "client_secret_post", "none")
	doc.RevocationEndpointAuthMethodsSupported = list("client_secret_basic", "client_secret_post", "none")
	doc.IntrospectionEndpointAuthMethodsSupported = list("client_secret_basic", "client_secret_post")
	doc.ClaimsSupported = list("sub", "email", "email_verified", "sid", "auth_time", "amr", "acr", "nonce")
	return doc
}

// GetOAuthAuthorizationServer answers RFC 8414's metadata: the discovery
// document under OAuth's name.
func (s *Server) GetOAuthAuthorizationServer(context.Context, oapi.GetOAuthAuthorizationServerRequestObject) (oapi.GetOAuthAuthorizationServerResponseObject, error) {
	return oapi.GetOAuthAuthorizationServer200JSONResponse{Body: s.discovery(),
		Headers: oapi.GetOAuthAuthorizationServer200ResponseHeaders{CacheControl: s.jwksCacheControl()}}, nil
}

// GetOAuth2Request answers what the login page shows of a request, and,
// to a signed-in caller, whether they consented to it before.
func (s *Server) GetOAuth2Request(ctx context.Context, req oapi.GetOAuth2RequestRequestObject) (oapi.GetOAuth2RequestResponseObject, error) {
	if s.op == nil {
		return nil, errNotOP
	}
	r, err := s.op.Request(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	out := oapi.OAuth2Request{ID: r.ID, Client: oapi.OAuth2ClientRef{ID: r.ClientID, Name: r.ClientName},
		Scopes: nonNil(r.Scopes), AcrValues: nonNil(r.ACRValues), Prompt: nonNil(r.Prompt), ExpiresAt: r.ExpiresAt.UTC()}
	if r.Unverified {
		out.Client.Unverified = &r.Unverified
	}
	if r.MaxAge >= 0 {
		m := int(r.MaxAge)
		out.MaxAge = &m
	}
	if p, signedIn := ctx.Value(principalKey{}).(token.Principal); signedIn {
		consented, err := s.op.Consented(ctx, p.UserID, r.ClientID, r.Scopes)
		if err != nil {
			return nil, err
		}
		out.Consented = &consented
	}
	return oapi.GetOAuth2Request200JSONResponse(out), nil
}

// AcceptOAuth2Request accepts a request with the caller's session (the
// rules are provider.Accept's).
func (s *Server) AcceptOAuth2Request(ctx context.Context, req oapi.AcceptOAuth2RequestRequestObject) (oapi.AcceptOAuth2RequestResponseObject, error) {
	if s.op == nil {
		return nil, errNotOP
	}
	p := mustPrincipal(ctx)
	sess, err := s.store.GetSession(ctx, p.SessionID)
	if err != nil {
		return nil, err
	}
	to, err := s.op.Accept(ctx, req.ID, provider.Caller{UserID: p.UserID, AAL: sess.AAL, AMR: amrOf(sess),
		AuthTime: sess.AuthTime, UserAgent: userAgent(ctx)})
	if err != nil {
		return nil, err
	}
	return oapi.AcceptOAuth2Request200JSONResponse{LoginStepRedirectJSONResponse: oapi.LoginStepRedirectJSONResponse{RedirectTo: to}}, nil
}

// RejectOAuth2Request refuses a request with the page's error.
func (s *Server) RejectOAuth2Request(ctx context.Context, req oapi.RejectOAuth2RequestRequestObject) (oapi.RejectOAuth2RequestResponseObject, error) {
	if s.op == nil {
		return nil, errNotOP
	}
	to, err := s.op.Reject(ctx, req.ID, string(req.Body.Error))
	if err != nil {
		return nil, err
	}
	return oapi.RejectOAuth2Request200JSONResponse{LoginStepRedirectJSONResponse: oapi.LoginStepRedirectJSONResponse{RedirectTo: to}}, nil
}

// ListConsents lists the apps the caller consented to.
func (s *Server) ListConsents(ctx context.Context, _ oapi.ListConsentsRequestObject) (oapi.ListConsentsResponseObject, error) {
	out := oapi.ListConsents200JSONResponse{}
	if s.op == nil {
		return out, nil
	}
	list, err := s.op.Consents(ctx, mustPrincipal(ctx).UserID)
	if err != nil {
		return nil, err
	}
	names := map[string]*oapi.OAuth2ClientRef{}
	for _, c := range list {
		ref, err := s.clientRef(ctx, c.ClientID, names)
		if err != nil {
			return nil, err
		}
		out = append(out, oapi.OAuth2Consent{Client: *ref, Scopes: nonNil(c.Scopes), CreatedAt: c.CreatedAt.UTC()})
	}
	return out, nil
}

// WithdrawConsent forgets the caller's consent to a client, ending their
// grants to it.
func (s *Server) WithdrawConsent(ctx context.Context, req oapi.WithdrawConsentRequestObject) (oapi.WithdrawConsentResponseObject, error) {
	if s.op == nil {
		return nil, provider.ErrNoConsent
	}
	if err := s.op.WithdrawConsent(ctx, mustPrincipal(ctx).UserID, req.ClientID); err != nil {
		return nil, err
	}
	return oapi.WithdrawConsent204Response{}, nil
}

// clientRef names a grant's client for GET /sessions; nil for keel's own
// sessions, or a client deleted since.
func (s *Server) clientRef(ctx context.Context, id string, cache map[string]*oapi.OAuth2ClientRef) (*oapi.OAuth2ClientRef, error) {
	if id == "" {
		return nil, nil
	}
	if ref, ok := cache[id]; ok {
		return ref, nil
	}
	if s.clients == nil {
		cache[id] = &oapi.OAuth2ClientRef{ID: id}
		return cache[id], nil
	}
	c, err := s.clients.GetClient(ctx, id)
	if errors.Is(err, clients.ErrNoClient) {
		cache[id] = &oapi.OAuth2ClientRef{ID: id, Name: ""}
		return cache[id], nil
	}
	if err != nil {
		return nil, err
	}
	ref := &oapi.OAuth2ClientRef{ID: c.ID, Name: c.Name}
	if c.Dynamic {
		ref.Unverified = &c.Dynamic
	}
	cache[id] = ref
	return ref, nil
}

// RegisterOAuth2Client registers a client that asked for itself (RFC 7591).
func (s *Server) RegisterOAuth2Client(ctx context.Context, req oapi.RegisterOAuth2ClientRequestObject) (oapi.RegisterOAuth2ClientResponseObject, error) {
	if !s.registrationOpen() {
		return nil, errRegistrationOff
	}
	trusted, err := s.initialAccess(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Body
	// post_logout_redirect_uris are not taken (RFC 7591 §2 lets a server
	// leave out what it asked): end_session would send anyone's browser to
	// whatever a stranger registered, an open redirect. The answer shows
	// none registered.
	reg := clients.Registration{
		Name: deref(m.ClientName), Public: true, Dynamic: true,
		RedirectURIs: deref(m.RedirectUris),
		GrantTypes:   deref(m.GrantTypes), Scopes: strings.Fields(deref(m.Scope)),
	}
	if reg.Name == "" {
		return registrationRefused(errInvalidClientMetadata, "client_name is required: the login step shows it"), nil
	}
	// Without a method a client is public, the only kind open to anyone;
	// with the initial access token, RFC 7591's default.
	method := deref(m.TokenEndpointAuthMethod)
	if method == "" {
		method = authNone
		if trusted {
			method = authSecretBasic
		}
	}
	switch method {
	case authNone:
	case authSecretBasic, authSecretPost:
		if !trusted {
			return registrationRefused(errInvalidClientMetadata,
				"a confidential client ("+method+") needs the initial access token; register a public one (none) with PKCE"), nil
		}
		reg.Public = false
	default:
		return registrationRefused(errInvalidClientMetadata,
			"token_endpoint_auth_method: none, or with the initial access token client_secret_basic or client_secret_post"), nil
	}
	switch deref(m.ApplicationType) {
	case "", clients.Web:
	case clients.Native:
		reg.Native = true
	default:
		return registrationRefused(errInvalidClientMetadata, "application_type: web or native"), nil
	}
	if rt := deref(m.ResponseTypes); slices.ContainsFunc(rt, func(t string) bool { return t != "code" }) {
		return registrationRefused(errInvalidClientMetadata, "response_types: code only"), nil
	}
	c, secret, err := clients.Register(reg, s.now())
	if err != nil {
		code := errInvalidClientMetadata
		if errors.Is(err, clients.ErrRedirectURI) {
			code = errInvalidRedirectURI
		}
		return registrationRefused(code, strings.ReplaceAll(err.Error(), "\n", "; ")), nil
	}
	if err := s.clients.CreateClient(ctx, c); err != nil {
		return nil, err
	}
	out := oapi.RegisterOAuth2Client201JSONResponse{
		ClientID: c.ID, ClientIDIssuedAt: c.CreatedAt.Unix(), ClientName: c.Name,
		RedirectUris: nonNil(c.RedirectURIs), GrantTypes: c.GrantTypes, ResponseTypes: []string{},
		Scope:                   strings.Join(c.Scopes, " "),
		TokenEndpointAuthMethod: oapi.ClientRegistrationTokenEndpointAuthMethod(method),
		ApplicationType:         oapi.ClientRegistrationApplicationType(c.AppType),
	}
	if slices.Contains(c.GrantTypes, clients.GrantAuthorizationCode) {
		out.ResponseTypes = []string{"code"}
	}
	if len(c.PostLogoutRedirectURIs) > 0 {
		out.PostLogoutRedirectUris = &c.PostLogoutRedirectURIs
	}
	if secret != "" {
		never := int64(0)
		out.ClientSecret, out.ClientSecretExpiresAt = &secret, &never
	}
	return out, nil
}

// GetDeviceRequest answers which client asks for what with the user code
// the signed-in user entered (the device grant, RFC 8628).
func (s *Server) GetDeviceRequest(ctx context.Context, req oapi.GetDeviceRequestRequestObject) (oapi.GetDeviceRequestResponseObject, error) {
	if s.op == nil {
		return nil, errNotOP
	}
	if err := s.limitUserCodes(ctx); err != nil {
		return nil, err
	}
	r, err := s.op.DeviceRequest(ctx, req.Params.UserCode)
	if err != nil {
		return nil, err
	}
	out := oapi.DeviceRequest{Client: oapi.OAuth2ClientRef{ID: r.ClientID, Name: r.ClientName},
		Scopes: nonNil(r.Scopes), ExpiresAt: r.ExpiresAt.UTC()}
	if r.Unverified {
		out.Client.Unverified = &r.Unverified
	}
	return oapi.GetDeviceRequest200JSONResponse(out), nil
}

// AnswerDeviceRequest approves or denies a device's user code for the
// caller; approving starts the grant (provider.AnswerDevice).
func (s *Server) AnswerDeviceRequest(ctx context.Context, req oapi.AnswerDeviceRequestRequestObject) (oapi.AnswerDeviceRequestResponseObject, error) {
	if s.op == nil {
		return nil, errNotOP
	}
	if err := s.limitUserCodes(ctx); err != nil {
		return nil, err
	}
	p := mustPrincipal(ctx)
	sess, err := s.store.GetSession(ctx, p.SessionID)
	if err != nil {
		return nil, err
	}
	err = s.op.AnswerDevice(ctx, req.Body.UserCode, provider.Caller{UserID: p.UserID, AAL: sess.AAL, AMR: amrOf(sess),
		AuthTime: sess.AuthTime, UserAgent: userAgent(ctx)}, req.Body.Approve)
	if err != nil {
		return nil, err
	}
	return oapi.AnswerDeviceRequest204Response{}, nil
}

// limitUserCodes admits one user code entered by the caller's session, or
// refuses it with 429: user codes are short (RFC 8628 §5.1), so a session
// may try AUTH_RATE_LIMIT a minute, beside the per-address limit the spec
// puts on both operations (x-keel-rate-limit: device). Right and wrong codes
// count alike.
func (s *Server) limitUserCodes(ctx context.Context) error {
	if s.cfg.AuthRateLimit <= 0 {
		return nil
	}
	d, err := s.store.TakeRateToken(ctx, "device:"+mustPrincipal(ctx).SessionID, s.cfg.AuthRateLimit, s.now())
	if err != nil {
		return err
	}
	if d > 0 {
		return tooManyRequests("user codes entered by this session", d)
	}
	return nil
}
