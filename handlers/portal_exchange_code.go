package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/keyline/keyline/events"
)

// ExchangePortalCodeInput is portal.exchangeCode's body.
type ExchangePortalCodeInput struct {
	Code string `json:"code"`
}

// ExchangePortalCodeResult is Unkey's V2PortalExchangeCodeResponseData;
// the HTTP layer also sets AccessToken as the portal_session cookie.
type ExchangePortalCodeResult struct {
	AccessToken string `json:"accessToken"`
	ExpiresAt   int64  `json:"expiresAt"`
}

// ExchangePortalCode redeems an exchange code for an access token, once.
// It is unauthenticated: the code is the credential, so p is nil.
type ExchangePortalCode struct {
	Log      EventLog
	Sessions *PortalSessions
	now      func() time.Time
}

// NewExchangePortalCode builds the use case.
func NewExchangePortalCode(log EventLog, s *PortalSessions) *ExchangePortalCode {
	return &ExchangePortalCode{Log: log, Sessions: s, now: time.Now}
}

// Handle: a code that is unknown, expired, already redeemed, or whose
// session no longer holds (portal deleted, minting root key revoked) is
// 401 portal_session_not_found, all alike. Two redemptions racing each
// other append at the same stream version; the loser's conflict is that
// same 401, so a code works exactly once on any number of nodes.
func (h *ExchangePortalCode) Handle(ctx context.Context, _ *Principal, in ExchangePortalCodeInput) (ExchangePortalCodeResult, error) {
	refused := Fail(CodePortalSessionNotFound, portalSessionNotFoundDetail)
	codeHash := events.HashKey(in.Code)
	row, err := h.Sessions.Reader.PortalSessionByCode(ctx, codeHash)
	if errors.Is(err, events.ErrNotFound) {
		return ExchangePortalCodeResult{}, refused
	}
	if err != nil {
		return ExchangePortalCodeResult{}, Internal("reading portal session", err)
	}
	if _, err := h.Sessions.live(ctx, row); err != nil {
		return ExchangePortalCodeResult{}, err
	}
	stream := events.PortalSessionStreamID(row.ID)
	var s events.PortalSession
	if err := fold(ctx, h.Log, stream, s.Apply); err != nil {
		return ExchangePortalCodeResult{}, Internal("loading portal session", err)
	}
	now := h.now().UnixMilli()
	token := "pat_" + randomString(32, idAlphabet)
	expires := now + PortalTokenTTL.Milliseconds()
	decided, err := s.Exchange(codeHash, now, events.HashKey(token), expires)
	if errors.Is(err, events.ErrNotFound) {
		return ExchangePortalCodeResult{}, refused
	}
	if err != nil {
		return ExchangePortalCodeResult{}, Internal("deciding code exchange", err)
	}
	meta := events.Metadata{RequestID: RequestID(ctx), WorkspaceID: row.WorkspaceID, ActorID: row.ID}
	if _, err := h.Log.Append(ctx, stream, s.Version, meta, decided...); errors.Is(err, events.ErrVersionConflict) {
		return ExchangePortalCodeResult{}, refused
	} else if err != nil {
		return ExchangePortalCodeResult{}, Internal("appending portal_session.exchanged", err)
	}
	return ExchangePortalCodeResult{AccessToken: token, ExpiresAt: expires}, nil
}
