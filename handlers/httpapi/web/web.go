package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
)

//go:embed dist
var dist embed.FS

// AssetPrefix is where assets are served: AssetPrefix + name.HASH.ext.
const AssetPrefix = "/ui/"

// Route is one GET route the router registers.
type Route struct {
	Path    string
	Handler http.Handler
}

// Routes lists every page and every asset. Pages whose bundle is missing
// from dist are left out (TestEveryPageHasItsBundle keeps that from
// shipping).
func Routes() []Route { return load().routes }

// site is dist loaded once: asset bodies (plain and gzip), their versioned
// URLs, and the rendered pages.
type site struct {
	urls   map[string]string // dist file name → versioned URL
	routes []Route
}

var load = sync.OnceValue(func() *site {
	s, err := newSite(dist)
	if err != nil {
		// dist is embedded at build time: failing here is a broken build,
		// which every test of this package catches first.
		panic(fmt.Sprintf("web: loading embedded assets: %v", err))
	}
	return s
})

func newSite(files fs.FS) (*site, error) {
	s := &site{urls: map[string]string{}}
	sub, err := fs.Sub(files, "dist")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(sub, "*")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return nil, err
		}
		a, err := newAsset(name, body)
		if err != nil {
			return nil, err
		}
		s.urls[name] = a.url
		s.routes = append(s.routes, Route{Path: a.url, Handler: a})
	}
	for _, p := range Pages {
		js, css := s.urls[p.Entry+".js"], s.urls[p.Entry+".css"]
		if js == "" {
			continue
		}
		var buf bytes.Buffer
		if err := pageTemplate.Execute(&buf, map[string]string{"Title": p.Title, "JS": js, "CSS": css}); err != nil {
			return nil, err
		}
		s.routes = append(s.routes, Route{Path: p.Path, Handler: page(buf.Bytes())})
	}
	return s, nil
}

// pageTemplate is every page's document: the app renders into #app. The
// empty data: icon keeps the browser from asking for /favicon.ico.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
{{if .CSS}}<link rel="stylesheet" href="{{.CSS}}">
{{end}}<script type="module" src="{{.JS}}"></script>
</head>
<body>
<noscript>This page needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`))

// page serves one rendered document. Never cached: it names the current
// assets, and the portal's page is opened with a one-time code.
type page []byte

func (p page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	secure(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(p)
}

// asset is one embedded file under its versioned URL, kept plain and
// gzipped (compressed once, at start: the bundles are text).
type asset struct {
	url         string
	contentType string
	plain, gz   []byte
}

func newAsset(name string, body []byte) (*asset, error) {
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	a := &asset{
		url:         AssetPrefix + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext,
		contentType: mime.TypeByExtension(ext),
		plain:       body,
	}
	if a.contentType == "" {
		a.contentType = "application/octet-stream"
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if buf.Len() < len(body) {
		a.gz = buf.Bytes()
	}
	return a, nil
}

func (a *asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	secure(h)
	h.Set("Content-Type", a.contentType)
	// The URL changes with the content, so the content under a URL never
	// changes.
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Vary", "Accept-Encoding")
	body := a.plain
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	_, _ = w.Write(body)
}

// acceptsGzip reads Accept-Encoding well enough for browsers: gzip listed
// without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
