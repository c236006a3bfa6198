package validate

import "testing"

func TestEmail(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"ada@example.com":              true,
		"Grace@Example.COM":            true,
		" ada@example.com":             false,
		"ñandú@example.com":            false,
		"ada@exämple.com":              false,
		"ada":                          false,
		"Ada <ada@example.com>":        false,
		"a@example.com, b@example.com": false,
		"ada\u0007@example.com":        false,
		"<ada@example.com>":            false,
	} {
		if err := Email(addr); (err == nil) != ok {
			t.Errorf("Email(%q): %v, want ok=%v", addr, err, ok)
		}
	}
}
