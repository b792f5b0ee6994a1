package httpapi

import (
	"encoding/json"
	"strconv"

	"github.com/keyline/keyline/handlers"
)

// jsonAppender is a response body that writes its own JSON, byte for byte
// what encoding/json writes for it, without reflection: the hot paths'
// answers (keys.verifyKey, ratelimit.limit). writeData uses it when the
// data has it.
type jsonAppender interface {
	appendJSON(dst []byte) ([]byte, error)
}

// verifyKeyResponse is handlers.VerifyKeyResult with its own encoder.
type verifyKeyResponse handlers.VerifyKeyResult

func (r *verifyKeyResponse) appendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"valid":`...)
	dst = strconv.AppendBool(dst, r.Valid)
	dst = appendKey(dst, "code")
	dst = appendString(dst, r.Code)
	if r.KeyID != "" {
		dst = appendString(appendKey(dst, "keyId"), r.KeyID)
	}
	if r.Name != "" {
		dst = appendString(appendKey(dst, "name"), r.Name)
	}
	if len(r.Meta) > 0 {
		if dst, err = appendMarshal(appendKey(dst, "meta"), r.Meta); err != nil {
			return nil, err
		}
	}
	if r.Expires != nil {
		dst = strconv.AppendInt(appendKey(dst, "expires"), *r.Expires, 10)
	}
	if r.Credits != nil {
		dst = strconv.AppendInt(appendKey(dst, "credits"), *r.Credits, 10)
	}
	if r.Enabled != nil {
		dst = strconv.AppendBool(appendKey(dst, "enabled"), *r.Enabled)
	}
	if len(r.Permissions) > 0 {
		dst = appendStrings(appendKey(dst, "permissions"), r.Permissions)
	}
	if len(r.Roles) > 0 {
		dst = appendStrings(appendKey(dst, "roles"), r.Roles)
	}
	// Identities and rate limits are rarer and nested: encoding/json
	// writes them.
	if r.Identity != nil {
		if dst, err = appendMarshal(appendKey(dst, "identity"), r.Identity); err != nil {
			return nil, err
		}
	}
	if len(r.Ratelimits) > 0 {
		if dst, err = appendMarshal(appendKey(dst, "ratelimits"), r.Ratelimits); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

func (r *limitResponse) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"success":`...)
	dst = strconv.AppendBool(dst, r.Success)
	dst = strconv.AppendInt(appendKey(dst, "limit"), r.Limit, 10)
	dst = strconv.AppendInt(appendKey(dst, "remaining"), r.Remaining, 10)
	dst = strconv.AppendInt(appendKey(dst, "reset"), r.Reset, 10)
	if r.OverrideID != "" {
		dst = appendString(appendKey(dst, "overrideId"), r.OverrideID)
	}
	return append(dst, '}'), nil
}

// appendKey writes `,"name":` (name needs no escaping).
func appendKey(dst []byte, name string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// appendString writes s as encoding/json does: printable ASCII other than
// the quote, the backslash and the HTML-escaped <, > and & goes as is;
// anything else sends the whole string through encoding/json.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

func appendMarshal(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}
