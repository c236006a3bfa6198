package oidc

// A provider's refusal at its callback names an error code and describes
// it. keel passes the code on to the app only when it is a registered OAuth
// error code, so the app can act on it, and always with its own
// description: the provider's text, and an unregistered code, are whatever
// anyone who sends the browser to the callback chooses to put there.

// registeredErrors are the error codes an authorization endpoint may
// answer (RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6, in IANA's
// OAuth Extensions Error Registry), each with the description keel gives.
var registeredErrors = map[string]string{
	"invalid_request":            "the provider found the sign-in request invalid",
	"unauthorized_client":        "the provider does not allow keel to sign users in this way",
	"access_denied":              "the user or the provider denied the sign-in",
	"unsupported_response_type":  "the provider does not support the sign-in keel asked for",
	"invalid_scope":              "the provider refused the scopes keel asked for",
	"server_error":               "the provider failed to complete the sign-in",
	"temporarily_unavailable":    "the provider is temporarily unavailable; try again later",
	"interaction_required":       "the provider needs the user to interact with it",
	"login_required":             "the provider needs the user to sign in",
	"account_selection_required": "the provider needs the user to choose an account",
	"consent_required":           "the provider needs the user's consent",
	"invalid_request_uri":        "the provider refused the sign-in request",
	"invalid_request_object":     "the provider refused the sign-in request",
	"request_not_supported":      "the provider refused the sign-in request",
	"request_uri_not_supported":  "the provider refused the sign-in request",
	"registration_not_supported": "the provider refused the sign-in request",
}

// unknownError is what the app is told of a provider error code that is
// not registered.
const unknownError = "server_error"

// ProviderError is the error code and description keel passes on to the
// app for the error code a provider sent to the callback: the code itself
// when it is registered, server_error otherwise; the description is
// keel's own either way.
func ProviderError(code string) (string, string) {
	if desc, ok := registeredErrors[code]; ok {
		return code, desc
	}
	return unknownError, "the provider refused the sign-in with an error keel does not know"
}
