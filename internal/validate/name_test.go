package validate

import "testing"

func TestDisplayName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"Ada's phone": true, "Téléphone d'Adèle": true, "手机 📱": true, "שלום": true, "a b": true,
		"\u202Egnp.exe": false, "a\u2066b\u2069": false, "\u200Fx": false, "\u061Cx": false,
		"a\nb": false, "a\tb": false, "a\x00b": false, "a\x7fb": false, "a\u0085b": false, "a\u2028b": false,
	} {
		if err := DisplayName(name); (err == nil) != ok {
			t.Errorf("DisplayName(%q): %v, want ok=%v", name, err, ok)
		}
	}
}
