package httpapi

import (
	"net/http"

	"github.com/uptrace/bunrouter"

	"github.com/keyline/keyline/handlers"
)

func (rt *Routes) createAPI(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	id, err := rt.CreateAPI.Handle(req.Context(), p, in.Name)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, map[string]string{"apiId": id})
}

func (rt *Routes) getAPI(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		APIID string `json:"apiId"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	row, err := rt.GetAPI.Handle(req.Context(), p, in.APIID)
	if err != nil {
		return err
	}
	return writeData(w, req.Request, map[string]string{"id": row.ID, "name": row.Name})
}

func (rt *Routes) deleteAPI(w http.ResponseWriter, req bunrouter.Request) error {
	var in struct {
		APIID string `json:"apiId"`
	}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	if err := rt.DeleteAPI.Handle(req.Context(), p, in.APIID); err != nil {
		return err
	}
	return writeData(w, req.Request, empty{})
}

func (rt *Routes) listKeys(w http.ResponseWriter, req bunrouter.Request) error {
	in := struct {
		APIID      string `json:"apiId"`
		Limit      int    `json:"limit"`
		Cursor     string `json:"cursor"`
		ExternalID string `json:"externalId"`
		Decrypt    bool   `json:"decrypt"`
	}{Limit: 100}
	if err := decode(req, &in); err != nil {
		return err
	}
	p, err := rt.principal(req)
	if err != nil {
		return err
	}
	page, err := rt.ListKeys.Handle(req.Context(), p, handlers.ListKeysQuery{
		APIID: in.APIID, Limit: in.Limit, Cursor: in.Cursor, ExternalID: in.ExternalID, Decrypt: in.Decrypt})
	if err != nil {
		return err
	}
	return writePage(w, req.Request, page.Keys, page.HasMore, page.Cursor)
}
