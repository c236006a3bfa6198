package contract

import (
	"errors"
	"regexp"
)

// addrSpec is the checker's own reading of `format: email`, written from RFC
// 5322 §3.4.1 and independent of the server's rule, so that the two can
// disagree and a test shows it: an ASCII dot-atom local part (RFC 5322's
// quoted-string form is legal but keel never needs it), "@", and a domain of
// LDH labels with a dot (RFC 1035 §2.3.1, as RFC 5321 requires for mail).
// No spaces, no display name, nothing outside ASCII: `idn-email` would be
// the format for that.
var addrSpec = regexp.MustCompile(
	`^[A-Za-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+)*` +
		`@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

var errNotAddrSpec = errors.New("not an RFC 5322 addr-spec (ASCII dot-atom@domain)")

func checkAddrSpec(s string) error {
	if len(s) > 254 || !addrSpec.MatchString(s) {
		return errNotAddrSpec
	}
	return nil
}
