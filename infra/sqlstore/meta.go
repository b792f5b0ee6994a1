package sqlstore

import (
	"encoding/json"

	"github.com/keyline/keyline/events"
)

// decodeMeta decodes an event's stored metadata. Every read of the log
// decodes it, and a replay reads the whole log: the common shape (a flat
// object of the known keys with plain ASCII string values, as Append
// writes it and as PostgreSQL's jsonb prints it) is parsed here without
// reflection; anything else goes to encoding/json, so the result is the
// same either way.
func decodeMeta(b []byte) (events.Metadata, error) {
	if m, ok := parseFlatMeta(b); ok {
		return m, nil
	}
	var m events.Metadata
	err := json.Unmarshal(b, &m)
	return m, err
}

func parseFlatMeta(b []byte) (events.Metadata, bool) {
	var m events.Metadata
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return m, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, skipSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return m, false
		}
		j = skipSpace(b, j)
		if j >= len(b) || b[j] != ':' {
			return m, false
		}
		val, j, ok := plainString(b, skipSpace(b, j+1))
		if !ok {
			return m, false
		}
		// encoding/json matches keys case-insensitively; only the exact
		// names are taken here, the rest falls back to it.
		switch key {
		case "requestId":
			m.RequestID = val
		case "workspaceId":
			m.WorkspaceID = val
		case "actorId":
			m.ActorID = val
		default:
			return m, false
		}
		j = skipSpace(b, j)
		if j >= len(b) {
			return m, false
		}
		switch b[j] {
		case '}':
			return m, skipSpace(b, j+1) == len(b)
		case ',':
			i = skipSpace(b, j+1)
		default:
			return m, false
		}
	}
}

// plainString reads a JSON string starting at b[i] that holds only
// printable ASCII without escapes, and returns it and the index after its
// closing quote.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
