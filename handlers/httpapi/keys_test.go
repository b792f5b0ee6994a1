package httpapi

import (
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	cases := []struct {
		name, xff, remote, want string
	}{
		{"peer without a proxy", "", "10.1.2.3:51234", "10.1.2.3"},
		{"IPv6 peer", "", "[2001:db8::7]:443", "2001:db8::7"},
		{"first proxy entry wins", "1.2.3.4, 10.0.0.1", "10.0.0.2:80", "1.2.3.4"},
		{"empty entries are skipped", " , ,5.6.7.8", "10.0.0.2:80", "5.6.7.8"},
		{"port stripped from the header", "1.2.3.4:5678", "10.0.0.2:80", "1.2.3.4"},
		{"IPv6 in the header keeps its colons", "2001:db8::1", "10.0.0.2:80", "2001:db8::1"},
		{"bracketed IPv6 with a port", "[2001:db8::1]:8443", "10.0.0.2:80", "2001:db8::1"},
		{"bracketed IPv6 without a port", "[2001:db8::1]", "10.0.0.2:80", "2001:db8::1"},
		{"a header of only separators falls back to the peer", " , ", "10.0.0.2:80", "10.0.0.2"},
		{"garbage is passed on, and matches no allow-list", "not-an-ip", "10.0.0.2:80", "not-an-ip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v2/keys.verifyKey", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := clientIP(r); got != tc.want {
				t.Fatalf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}
