package events

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// InvalidIPError names an allow-list entry that is not a single IP address.
// It matches ErrInvalidIP with errors.Is.
type InvalidIPError struct {
	Entry  string
	Reason string
}

func (e *InvalidIPError) Error() string {
	return fmt.Sprintf("invalid IP address %q: %s", e.Entry, e.Reason)
}

func (e *InvalidIPError) Is(target error) bool { return target == ErrInvalidIP }

// NormalizeIPs turns allow-list entries into the canonical form the
// api.ip_allowlist_set event carries: each entry one exact address (Unkey's
// list holds exact IPs, no ranges), IPv4-mapped IPv6 reduced to IPv4,
// duplicates dropped, sorted. The canonical form makes "the same list again"
// recognisable, and lets a client's address match however either side
// spelled it ("::1" and "0:0::1" are one address).
func NormalizeIPs(entries []string) ([]string, error) {
	addrs := make([]netip.Addr, 0, len(entries))
	for _, raw := range entries {
		entry := strings.TrimSpace(raw)
		addr, err := netip.ParseAddr(entry)
		switch {
		case entry == "":
			return nil, &InvalidIPError{Entry: raw, Reason: "empty entry"}
		case strings.Contains(entry, "/"):
			return nil, &InvalidIPError{Entry: entry, Reason: "ranges (CIDR) are not supported, list each address"}
		case err != nil:
			return nil, &InvalidIPError{Entry: entry, Reason: "not an IPv4 or IPv6 address"}
		case addr.Zone() != "":
			// A zone names an interface of the machine that wrote the list,
			// which means nothing to the node checking a request.
			return nil, &InvalidIPError{Entry: entry, Reason: "IPv6 zones are not allowed"}
		}
		addrs = append(addrs, addr.Unmap())
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out, nil
}
