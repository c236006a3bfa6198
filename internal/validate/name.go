package validate

import (
	"strings"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
)

// nameFormat is keel's reading of the spec's `format: display-name` (a name
// a user gives something, shown back to them and in mails), given to the
// request validator alone, like emailFormat.
var nameFormat = openapi3.WithStringFormatValidator("display-name", openapi3.NewCallbackValidator(DisplayName))

// DisplayName refuses what would make a name lie about itself where it is
// shown: control characters (C0, DEL, C1: a newline in a list or a mail)
// and the bidirectional formatting characters (U+202E and kin) that reorder
// the text around them ("\u202Egnp.exe" reads "exe.png"), and the line and
// paragraph separators. Any other Unicode is a name someone may want.
func DisplayName(s string) error {
	if strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
	}) {
		return formatError("must not contain control or bidirectional formatting characters")
	}
	return nil
}
