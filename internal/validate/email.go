package validate

import (
	"net/mail"
	"strings"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
)

// emailFormat is keel's reading of the spec's `format: email`, given to the
// request validator alone (kin-openapi's global registry stays untouched, so
// the contract checker in tests keeps its own reading).
var emailFormat = openapi3.WithStringFormatValidator("email", openapi3.NewCallbackValidator(Email))

type formatError string

func (e formatError) Error() string { return string(e) }

// Email accepts what the spec promises: a bare RFC 5322 addr-spec in ASCII,
// as net/mail parses it, with no display name, angle brackets or surrounding
// spaces. Internationalized addresses (idn-email) are refused rather than
// stored in a form other clients of the spec cannot expect. The error's text
// is the reason a client is shown.
func Email(s string) error {
	if strings.ContainsFunc(s, func(r rune) bool { return r > unicode.MaxASCII || unicode.IsControl(r) }) {
		return formatError("must be an ASCII email address such as ada@example.com")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return formatError("must be an email address such as ada@example.com")
	}
	return nil
}
