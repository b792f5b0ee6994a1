package web

// Page is one browser page: an HTML document at Path that loads the
// bundle dist/Entry.js and its stylesheet dist/Entry.css.
type Page struct {
	Path  string
	Title string
	Entry string
}

// Pages are the pages keyline serves, one line each.
var Pages = []Page{
	{Path: "/console", Title: "keyline console", Entry: "console"},
	{Path: "/portal", Title: "API keys", Entry: "portal"},
}
