package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"time"
)

var funcs = template.FuncMap{
	// when renders a time in UTC, wrapping between date and time only.
	"when": func(t time.Time) template.HTML {
		if t.IsZero() {
			return "—"
		}
		return template.HTML(t.UTC().Format(`<time datetime="2006-01-02T15:04:05Z"><span class="nw">2006-01-02</span> <span class="nw">15:04 UTC</span></time>`))
	},
	// plural renders "1 package", "3 packages".
	"plural": func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	},
	"path":  url.PathEscape,
	"query": url.QueryEscape,
}

const layout = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · aptsnap</title>
<style>
:root{color-scheme:light dark;--fg:#1d232b;--mute:#5d6b7a;--bg:#fff;--alt:#f3f5f8;--line:#dde2e8;--acc:#0b5cad;--ok:#17803d;--bad:#b42318;--up:#e8f4ec;--down:#fdecea}
@media(prefers-color-scheme:dark){:root{--fg:#e6e9ed;--mute:#9aa6b2;--bg:#15181c;--alt:#1f242a;--line:#323a43;--acc:#6cb2ff;--ok:#52c77a;--bad:#ff7b72;--up:#183322;--down:#3a1d1b}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:var(--alt);border-bottom:1px solid var(--line);padding:.6rem 1rem}
header a{color:var(--fg);text-decoration:none;font-weight:600}
nav{display:inline;color:var(--mute)}nav a{font-weight:400;color:var(--acc)}
main{max-width:60rem;margin:0 auto;padding:.5rem 1rem 2rem}
h1{font-size:1.35rem;margin:.8rem 0 .4rem;word-break:break-word}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
a{color:var(--acc)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--mute);font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
pre{background:var(--alt);border:1px solid var(--line);padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:.85rem}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}.mute{color:var(--mute)}
.upgraded td:first-child{border-left:4px solid var(--ok)}.downgraded td:first-child{border-left:4px solid var(--bad)}
.added td:first-child{border-left:4px solid var(--acc)}.removed td:first-child{border-left:4px solid var(--mute)}
form{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.4rem 0}
select,input,button{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
button{background:var(--acc);color:#fff;border-color:var(--acc)}
.nw,.v{white-space:nowrap}
.err{background:var(--down);border:1px solid var(--bad);padding:.8rem;border-radius:6px}
</style></head>
<body><header><a href="/ui/">aptsnap</a>{{range .Crumbs}} <nav>/ {{if .Href}}<a href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</nav>{{end}}</header>
<main>
{{if .Error}}<h1>{{.Title}}</h1><p class="err" id="error">{{.Error}}</p>{{else}}{{template "content" .Data}}{{end}}
</main></body></html>`

var pages = map[string]string{
	"home": `<h1>Archives</h1>
{{if not .}}<p class="mute">No archive yet.</p>{{else}}<div class="scroll"><table id="archives">
<tr><th>Archive</th><th>Last pulse</th><th>Latest</th><th title="snapshots">Count</th></tr>
{{range .}}<tr class="archive" data-archive="{{.Name}}"><td><a href="/ui/{{path .Name}}/">{{.Name}}</a></td>
<td>{{with .Pulse}}{{if .OK}}<span class="ok">ok</span>{{else}}<span class="bad">failed</span>{{end}} <span class="mute">{{when .Finished}}</span>{{if .Error}}<br><small class="bad">{{.Error}}</small>{{end}}{{else}}<span class="mute">never</span>{{end}}</td>
<td>{{with .Latest}}<a class="mono" href="/ui/{{path .Archive}}/{{path .Serial}}/">{{.Serial}}</a><br><small class="{{if .Expired}}bad{{else}}mute{{end}}">expires {{.Expires}}</small>{{if .Stale}} <small class="bad stale">stale: pulses failing, kept as the newest</small>{{end}}{{else}}—{{end}}</td>
<td class="n">{{.Snapshots}}{{if .Tags}}<br><small class="mute nw">+{{.Tags}} tag{{if gt .Tags 1}}s{{end}}</small>{{end}}</td></tr>
{{end}}</table></div>{{end}}`,

	"archive": `<h1>{{.Archive}}</h1>
{{if .Snapshots}}<form action="diff" method="get"><label>Diff <select name="from">{{range .Snapshots}}<option{{if eq .Serial $.From}} selected{{end}}>{{.Serial}}</option>{{end}}{{range .Tags}}<option>{{.Serial}}</option>{{end}}</select></label>
<label>→ <select name="to">{{range .Snapshots}}<option{{if eq .Serial $.To}} selected{{end}}>{{.Serial}}</option>{{end}}{{range .Tags}}<option>{{.Serial}}</option>{{end}}</select></label><button>Compare</button></form>{{end}}
<form action="package" method="get"><input name="name" placeholder="package name" size="18" autocapitalize="none" autocorrect="off" spellcheck="false"><button>Find versions</button></form>
<h2>Snapshots</h2>
{{if not .Snapshots}}<p class="mute">No snapshot yet.</p>{{else}}<div class="scroll"><table id="snapshots">
<tr><th>Serial</th><th>Created</th><th>Valid until</th><th>Expires</th></tr>
{{range .Snapshots}}<tr class="snapshot" data-serial="{{.Serial}}"><td><a class="mono" href="{{path .Serial}}/">{{.Serial}}</a></td><td>{{when .Created}}</td><td>{{when .ValidUntil}}</td>
<td class="{{if .Expired}}bad{{end}}">{{.Expires}}{{if .Stale}} <span class="stale">· stale, kept as the newest</span>{{end}}</td></tr>
{{end}}</table></div>{{end}}
{{if .Tags}}<h2>Tagged snapshots</h2><div class="scroll"><table id="tags">
<tr><th>Tag</th><th>Created</th><th>Suites</th></tr>
{{range .Tags}}<tr class="tag" data-serial="{{.Serial}}"><td><a href="{{path .Serial}}/">{{.Tag}}</a></td><td>{{when .Created}}</td><td>{{range $i, $s := .Suites}}{{if $i}}, {{end}}{{$s}}{{end}}</td></tr>
{{end}}</table></div>{{end}}`,

	"snapshot": `<h1>{{.Snap.Archive}} <span class="mono">{{.Snap.Serial}}</span></h1>
<p>Created {{when .Snap.Created}}{{if .Snap.Tag}} · tagged <b>{{.Snap.Tag}}</b>, never expires{{else}} · valid until {{when .Snap.ValidUntil}} (<span class="{{if .Snap.Expired}}bad{{end}}" id="expires">{{.Snap.Expires}}</span>){{end}}
{{if .Previous}}· <a href="../diff?from={{query .Previous}}&amp;to={{query .Snap.Serial}}">changes since {{.Previous}}</a>{{end}}</p>
{{range .Suites}}<section class="suite" data-suite="{{.Name}}"><h2>{{.Name}} <small class="mute">{{plural .Packages "package"}}</small></h2>
<pre class="sources">{{.SourceLine}}</pre>
<div class="scroll"><table><tr><th>Index</th><th>Count</th></tr>
{{range .Indices}}<tr class="index"><td class="mono">{{.Path}}</td><td class="n">{{.Count}} <small class="mute">{{.Unit}}</small></td></tr>{{end}}
</table></div></section>{{end}}
<p class="mute"><small>Key: <a href="{{.KeyURL}}">{{.KeyURL}}</a> (save it as /etc/apt/keyrings/aptsnap.asc)</small></p>`,

	"diff": `<h1>{{.Archive}}: <span class="mono">{{.From.Serial}}</span> → <span class="mono">{{.To.Serial}}</span></h1>
<p id="summary">{{plural .Total "change"}}{{range .Groups}} · {{len .Changes}} {{.Kind}}{{end}} <small class="mute">({{.Took}})</small></p>
{{range .Groups}}{{if .Changes}}<h2>{{.Kind}} <small class="mute">{{len .Changes}}</small></h2>
<div class="scroll"><table id="{{.Kind}}"><tr><th>Package</th><th>From</th><th>To</th><th>Where</th></tr>
{{range .Changes}}<tr class="{{.Kind}}" data-package="{{.Name}}"><td><a href="package/{{path .Name}}">{{.Name}}</a></td><td class="mono v from">{{.From}}</td><td class="mono v to">{{.To}}</td><td class="mute"><small>{{.Suite}} {{.Comp}} {{.Arch}}</small></td></tr>
{{end}}</table></div>{{end}}{{end}}
{{if not .Total}}<p class="mute">No package changed.</p>{{end}}`,

	"package": `<h1>{{.Name}} <small class="mute">in {{.Archive}}</small></h1>
<p class="mute">{{plural (len .Versions) "version"}} across {{plural .Scanned "snapshot"}}.</p>
<div class="scroll"><table id="versions"><tr><th>Version</th><th>Snapshots</th><th>Where</th></tr>
{{range .Versions}}<tr class="version" data-version="{{.Version}}"><td class="mono v">{{.Version}}</td>
<td>{{range $i, $r := .Runs}}{{if $i}}, {{end}}<a class="mono" href="../{{path $r.First}}/">{{$r.First}}</a>{{if ne $r.First $r.Last}} … <a class="mono" href="../{{path $r.Last}}/">{{$r.Last}}</a> <small class="mute">({{$r.N}})</small>{{end}}{{end}}{{range .Tags}} <a href="../{{path .}}/">{{.}}</a>{{end}}</td>
<td class="mute"><small>{{range $i, $w := .Where}}{{if $i}}<br>{{end}}{{$w}}{{end}}</small></td></tr>
{{end}}</table></div>`,
}

var templates = func() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(funcs).Parse(layout + `{{define "content"}}{{end}}`))
	m := map[string]*template.Template{"": base}
	for name, text := range pages {
		m[name] = template.Must(template.Must(base.Clone()).Parse(`{{define "content"}}` + text + `{{end}}`))
	}
	return m
}()

// render writes a page, buffered so that a template error is not half sent.
func render(w io.Writer, p *page) error {
	var b bytes.Buffer
	if err := templates[p.Tmpl].ExecuteTemplate(&b, "layout", p); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
