package web

import (
	"bytes"
	"html/template"
	"io"
	"net/url"
	"sync"
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
	// day is a short time for the pictures' axes: "Jan 2 15:04".
	"day":    func(t time.Time) string { return t.UTC().Format("Jan 2 15:04") },
	"plural": plural,
	"path":   url.PathEscape,
	"query":  url.QueryEscape,
	"size":   size,
	"took":   took,
	"pct":    pct,
	"add":    func(a, b int) int { return a + b },
	"sub":    func(a, b int) int { return a - b },
	"subf":   func(a, b float64) float64 { return a - b },
	"subi":   func(a, b int64) int64 { return a - b },
}

const layout = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · aptsnap</title>
<style>
:root{color-scheme:light dark;--fg:#1d232b;--mute:#5d6b7a;--bg:#fff;--alt:#f3f5f8;--line:#dde2e8;--acc:#0b5cad;--ok:#17803d;--bad:#b42318;--warn:#b45309;--up:#e8f4ec;--down:#fdecea;--held:#c5d3e3}
@media(prefers-color-scheme:dark){:root{--fg:#e6e9ed;--mute:#9aa6b2;--bg:#15181c;--alt:#1f242a;--line:#323a43;--acc:#6cb2ff;--ok:#52c77a;--bad:#ff7b72;--warn:#f0a030;--up:#183322;--down:#3a1d1b;--held:#34465a}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:var(--alt);border-bottom:1px solid var(--line);padding:.6rem 1rem;display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.2rem 1rem}
header a{color:var(--fg);text-decoration:none;font-weight:600}
nav{display:inline;color:var(--mute)}nav a{font-weight:400;color:var(--acc)}
header .links a{font-weight:400;color:var(--acc);margin-left:.9rem}header .links a:first-child{margin-left:0}
main{max-width:72rem;margin:0 auto;padding:.5rem 1rem 2rem}
h1{font-size:1.35rem;margin:.8rem 0 .4rem;overflow-wrap:anywhere}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
a{color:var(--acc)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--mute);font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
pre{background:var(--alt);border:1px solid var(--line);padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:.85rem}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}.mute{color:var(--mute)}.warn{color:var(--warn);font-weight:600}
.reason{display:inline-block;font-size:.8rem;line-height:1.3;border:1px solid var(--bad);color:var(--bad);border-radius:4px;padding:0 .3em}
.badge{display:inline-block;font-size:.78rem;line-height:1.3;border:1px solid var(--line);color:var(--mute);border-radius:4px;padding:0 .3em}
.error{font-size:.82rem;color:var(--mute);margin-top:.2rem}
.upgraded td:first-child{border-left:4px solid var(--ok)}.downgraded td:first-child{border-left:4px solid var(--bad)}
.added td:first-child{border-left:4px solid var(--acc)}.removed td:first-child{border-left:4px solid var(--mute)}
form{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:.4rem 0}
select,input,button{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg)}
button{background:var(--acc);color:#fff;border-color:var(--acc)}
.nw,.v,td.where{white-space:nowrap}
.wrap{overflow-wrap:anywhere}
.err{background:var(--down);border:1px solid var(--bad);padding:.8rem;border-radius:6px;overflow-wrap:anywhere}
.chart{display:block;width:100%;margin:.4rem 0 .1rem;font:11px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow:hidden}
.chart text{fill:var(--fg);paint-order:stroke;stroke:var(--bg);stroke-width:3px;stroke-linejoin:round}.chart text.in{stroke:none}.chart .tick,.chart .nowlabel{fill:var(--mute)}
.chart .grid{stroke:var(--line)}.chart .axis{stroke:var(--mute)}.chart .now{stroke:var(--acc);stroke-width:1.5;stroke-dasharray:4 3}
.chart .live{fill:var(--ok)}.chart .soon{fill:var(--warn)}.chart .expired{fill:var(--mute);opacity:.45}.chart .stale{fill:var(--bad)}
.chart .bumped{stroke:var(--fg);stroke-width:1.5}.chart .bump{fill:var(--fg)}.chart text.in{fill:#fff}
.chart .tagmark{fill:var(--acc)}.chart .tagline{stroke:var(--acc);stroke-width:1.5;stroke-dasharray:5 3}
.chart rect.ok{fill:var(--ok)}.chart rect.failed{fill:var(--bad)}.chart .bytes,.chart .new{fill:var(--acc)}
.chart .held{fill:var(--held)}.chart .own{fill:var(--fg)}.chart g.collect{opacity:.35}.chart .newest{fill:var(--acc)}
.chart .kept{fill:var(--held)}.chart .free{fill:var(--warn)}
h3{font-size:1rem;margin:1.1rem 0 .3rem}
.state{display:inline-block;font-size:.8rem;line-height:1.3;border:1px solid currentColor;border-radius:4px;padding:0 .3em;white-space:nowrap}
.state.draft,.state.rejected{color:var(--mute)}.state.submitted,.state.verification-needed{color:var(--warn)}
.state.verification-failed{color:var(--bad)}.state.verification-done,.state.released{color:var(--ok)}
table.facts th{width:11rem}table.facts td{overflow-wrap:anywhere}
pre.text,pre.comment{word-break:normal;overflow-wrap:anywhere}
table.pending{table-layout:fixed}table.pending td{overflow-wrap:anywhere}
table.pending th:nth-child(1){width:6%}table.pending th:nth-child(2){width:11%}table.pending th:nth-child(3){width:20%}table.pending th:nth-child(4){width:7%}
table.pending th:nth-child(5){width:14%}table.pending th:nth-child(6){width:10%}table.pending th:nth-child(7){width:24%}table.pending th:nth-child(8){width:8%}
.chart .phased{fill:var(--ok)}.chart .unphased{fill:var(--held)}
.legend{font-size:.8rem;color:var(--mute);display:flex;flex-wrap:wrap;gap:.1rem 1rem;margin:.1rem 0 .8rem}
.legend i{display:inline-block;width:.9em;height:.9em;border-radius:2px;vertical-align:-.1em;margin-right:.3em}
.legend .live{background:var(--ok)}.legend .soon{background:var(--warn)}.legend .expired{background:var(--mute);opacity:.45}.legend .stale{background:var(--bad)}
.legend .bump{background:var(--fg);clip-path:polygon(0 0,100% 0,50% 75%)}.legend .tagm{background:var(--acc);clip-path:polygon(50% 0,100% 50%,50% 100%,0 50%)}
.legend .ok{background:var(--ok)}.legend .failed{background:var(--bad)}.legend .new,.legend .newest{background:var(--acc)}.legend .held{background:var(--held)}
.legend .own{background:var(--fg);height:.2em;vertical-align:.2em}.legend .collect{background:var(--acc);opacity:.35}.legend .free{background:var(--warn)}
@media(max-width:40rem){
main{padding:.4rem .75rem 2rem}
table.facts th{width:auto;white-space:normal}
table.cards thead{display:none}
table.cards,table.cards tbody,table.cards tr{display:block;width:100%}
table.cards tr{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.15rem .8rem;padding:.45rem .25rem;border-bottom:1px solid var(--line)}
table.cards td{display:block;border:0;padding:0;min-width:0;overflow-wrap:anywhere}
table.cards td[data-label]::before{content:attr(data-label);display:block;font-size:.72rem;color:var(--mute);font-weight:400}
table.cards td.wide{grid-column:1/-1}
table.cards td.n{text-align:left}
table.cards .v,table.cards td.where{white-space:normal}
table.cards tr.upgraded{border-left:4px solid var(--ok)}table.cards tr.downgraded{border-left:4px solid var(--bad)}
table.cards tr.added{border-left:4px solid var(--acc)}table.cards tr.removed{border-left:4px solid var(--mute)}
table.cards tr td:first-child{border-left:0}
}
</style></head>
<body><header><div class="trail"><a href="/ui/">aptsnap</a>{{range .Crumbs}} <nav>/ {{if .Href}}<a href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</nav>{{end}}</div>
<div class="links"><a href="/ui/">Archives</a><a href="/ui/-/tags">Tags</a><a href="/ui/-/storage">Storage</a><a href="/ui/-/updates">Updates</a></div></header>
<main>
{{if .Error}}<h1>{{.Title}}</h1><p class="err" id="error">{{.Error}}</p>{{else}}{{template "content" .Data}}{{end}}
</main></body></html>`

// charts are the pictures' templates (see charts.go).
const charts = `
{{define "timeline"}}<svg class="chart timeline" id="timeline" role="img" aria-label="Snapshots of {{.Archive}}: made, then valid until" width="100%" height="{{.Height}}">
{{range .Ticks}}<line class="grid" x1="{{pct .X}}" x2="{{pct .X}}" y1="0" y2="{{$.AxisY}}"/><text class="tick" x="{{pct .X}}" y="{{add $.AxisY 12}}" text-anchor="{{.Anchor}}">{{.Label}}</text>
{{end}}<line class="now" x1="{{pct .Now}}" x2="{{pct .Now}}" y1="0" y2="{{.AxisY}}"/><text class="nowlabel" x="{{pct .Now}}" y="{{add .AxisY 25}}" text-anchor="middle">now</text>
{{range .Tags}}<g class="tag" data-tag="{{.Tag}}"><title>{{.Title}}</title><line class="tagline" x1="{{pct .X}}" x2="100%" y1="{{add .Y 10}}" y2="{{add .Y 10}}"/><svg x="{{pct .X}}" y="{{add .Y 10}}" overflow="visible"><path class="tagmark" d="M0-6 6 0 0 6-6 0z"/></svg><text x="{{pct .X}}" dx="9" y="{{add .Y 14}}">{{.Tag}}</text></g>
{{end}}{{range .Bars}}<g class="snap" data-serial="{{.Serial}}"><title>{{.Title}}</title><rect class="bar {{.Class}}{{if .Bumped}} bumped{{end}}" data-serial="{{.Serial}}" x="{{pct .X}}" width="{{pct .W}}" y="{{.Y}}" height="12" rx="2"/>{{if .Bumped}}<svg x="{{pct .BumpX}}" y="{{.Y}}" overflow="visible"><path class="bump" d="M-5-5h10l-5 7z"/></svg>{{end}}<text{{if .Inside}} class="in"{{end}} x="{{pct .LX}}" dx="{{.DX}}" y="{{add .Y 10}}" text-anchor="{{.Anchor}}">{{.Serial}}</text></g>
{{end}}</svg>
<p class="legend"><span><i class="live"></i>valid</span><span><i class="soon"></i>expires within 2 days</span><span><i class="expired"></i>expired: the next GC deletes it</span><span><i class="stale"></i>stale (kept as the newest)</span><span><i class="bump"></i>bumped</span><span><i class="tagm"></i>tag</span>{{if .More}}<span>{{.More}} older not drawn</span>{{end}}</p>{{end}}

{{define "pulsechart"}}<svg class="chart pulses" id="pulse-chart" role="img" aria-label="The last pulses: how long each took, and what its snapshot added" width="100%" height="{{.Height}}">
{{range .Bars}}<g class="pulse"><title>{{.Title}}</title><rect class="bar pulse {{.Class}}" data-took="{{.Took}}"{{if .Reason}} data-reason="{{.Reason}}"{{end}} x="{{pct .X}}" width="{{pct .W}}" y="{{.Y}}" height="{{.H}}"/>{{if .BH}}<rect class="bytes" x="{{pct .X}}" width="{{pct .W}}" y="{{add $.Base 1}}" height="{{.BH}}"/>{{end}}</g>
{{end}}<line class="axis" x1="0" x2="100%" y1="{{.Base}}" y2="{{.Base}}"/>
<text class="tick" x="0" y="{{sub .Height 3}}">{{day .First}}</text><text class="tick" x="100%" y="{{sub .Height 3}}" text-anchor="end">{{day .Last}}</text></svg>
<p class="legend"><span><i class="ok"></i>how long a pulse took, up to {{.MaxTook}}</span><span><i class="failed"></i>failed</span><span><i class="new"></i>new in its snapshot (below), up to {{.MaxBytes}}</span></p>{{end}}

{{define "storagechart"}}<svg class="chart storage" id="storage-chart" role="img" aria-label="What the snapshots hold in the store, over the snapshot history" width="100%" height="{{.Height}}">
<text class="tick" x="0" y="11">{{.Max}}</text>
{{range .Bars}}<g class="snap{{if .Class}} {{.Class}}{{end}}" data-serial="{{.Serial}}"><title>{{.Title}}</title><rect class="bar held" data-serial="{{.Serial}}" x="{{pct .X}}" width="{{pct .W}}" y="{{.Y}}" height="{{.H}}"/>{{if .NH}}<rect class="new" x="{{pct .X}}" width="{{pct .W}}" y="{{.Y}}" height="{{.NH}}"/>{{end}}<rect class="own" x="{{pct .X}}" width="{{pct .W}}" y="{{sub .OY 1}}" height="2"/></g>
{{end}}<line class="axis" x1="0" x2="100%" y1="{{.Base}}" y2="{{.Base}}"/>
<text class="tick" x="0" y="{{sub .Height 3}}">{{day .First}}</text><text class="tick" x="100%" y="{{sub .Height 3}}" text-anchor="end">{{day .Last}}</text></svg>
<p class="legend"><span><i class="held"></i>held with the older snapshots</span><span><i class="new"></i>new in it</span><span><i class="own"></i>the snapshot alone</span>{{if .Collect}}<span><i class="collect"></i>the next GC deletes it</span>{{end}}</p>{{end}}

{{define "archivebars"}}<svg class="chart archives" id="storage-bars" role="img" aria-label="Storage by archive" width="100%" height="{{.Height}}">
{{range .Rows}}<g class="archive" data-archive="{{.Name}}"><title>{{.Title}}</title><text x="0" y="{{add .Y 12}}">{{.Name}} <tspan class="tick">{{.HeldS}} · newest {{.NewstS}}</tspan></text><rect class="held" x="0" width="{{pct .Held}}" y="{{add .Y 17}}" height="14"/><rect class="newest" x="0" width="{{pct .Newest}}" y="{{add .Y 17}}" height="14"/></g>
{{end}}</svg>
<p class="legend"><span><i class="held"></i>held by all its snapshots</span><span><i class="newest"></i>referenced by the newest</span></p>{{end}}
`

var pages = map[string]string{
	"home": `<h1>Archives</h1>
{{if not .}}<p class="mute">No archive yet.</p>{{else}}<div class="scroll"><table id="archives" class="cards">
<thead><tr><th>Archive</th><th>Last pulse</th><th>Latest</th><th title="snapshots">Count</th></tr></thead>
{{range $row := .}}<tr class="archive" data-archive="{{.Name}}"><td data-label="Archive"><a href="/ui/{{path .Name}}/">{{.Name}}</a></td>
<td data-label="Last pulse" class="pulse">{{with .Pulse}}{{if .OK}}<span class="ok">ok</span> <span class="mute">{{when .Finished}} <small class="nw took">· {{.Took}}</small></span>{{else}}<span class="bad">failed</span> <span class="reason">{{.Reason}}</span> <span class="mute">{{when .Finished}}</span><br><small class="last-ok">last success {{if $row.LastOK.IsZero}}never{{else}}{{when $row.LastOK}}{{end}}</small> <small><a href="/ui/{{path $row.Name}}/#pulses">details</a></small>{{end}}{{else}}<span class="mute">never</span>{{end}}</td>
<td data-label="Latest">{{with .Latest}}<a class="mono" href="/ui/{{path .Archive}}/{{path .Serial}}/">{{.Serial}}</a><br><small class="{{if .Expired}}bad{{else if .Soon}}warn{{else}}mute{{end}}">expires {{.Expires}}</small>{{if .Stale}} <small class="bad stale">stale: pulses failing, kept as the newest</small>{{end}}{{else}}—{{end}}</td>
<td data-label="Snapshots" class="n">{{.Snapshots}}{{if .Tags}}<br><small class="mute nw">+{{.Tags}} tag{{if gt .Tags 1}}s{{end}}</small>{{end}}</td></tr>
{{end}}</table></div>{{end}}`,

	"archive": `<h1>{{.Archive}}</h1>
<p class="mute" id="overview">{{plural (len .Snapshots) "snapshot"}}{{if .Held}} holding {{size .Held}}{{end}}{{if .Collect}} · <span class="warn">{{.Collect}} expired: the next GC deletes {{if eq .Collect 1}}it{{else}}them{{end}}</span>{{end}}
{{with .Pulses}}{{with index . 0}} · last pulse {{if .OK}}<span class="ok">ok</span>{{else}}<span class="bad">failed</span> <span class="reason">{{.Reason}}</span>{{end}} {{when .Finished}}{{end}}{{end}}{{if .Pulses}} · last success <span id="last-ok">{{if .LastOK.IsZero}}never{{else}}{{when .LastOK}}{{end}}</span>{{end}}</p>
{{if .Snapshots}}<form action="diff" method="get"><label>Diff <select name="from">{{range .Snapshots}}<option{{if eq .Serial $.From}} selected{{end}}>{{.Serial}}</option>{{end}}{{range .Tags}}<option>{{.Serial}}</option>{{end}}</select></label>
<label>→ <select name="to">{{range .Snapshots}}<option{{if eq .Serial $.To}} selected{{end}}>{{.Serial}}</option>{{end}}{{range .Tags}}<option>{{.Serial}}</option>{{end}}</select></label><button>Compare</button></form>{{end}}
<form action="package" method="get"><input name="name" placeholder="package name" size="18" autocapitalize="none" autocorrect="off" spellcheck="false"><button>Find versions</button></form>
<h2>Snapshots</h2>
{{with .Timeline}}{{template "timeline" .}}{{end}}
{{if not .Snapshots}}<p class="mute">No snapshot yet.</p>{{else}}<div class="scroll"><table id="snapshots" class="cards">
<thead><tr><th>Serial</th><th>Created</th><th>Valid until</th><th>Expires</th><th>Size</th></tr></thead>
{{range .Snapshots}}<tr class="snapshot" data-serial="{{.Serial}}"><td data-label="Serial"><a class="mono" href="{{path .Serial}}/">{{.Serial}}</a></td><td data-label="Created">{{when .Created}}</td><td data-label="Valid until">{{when .ValidUntil}}</td>
<td data-label="Expires" class="{{if .Expired}}bad{{else if .Soon}}warn{{end}}">{{.Expires}}{{if .Stale}} <span class="stale">· stale, kept as the newest</span>{{end}}{{if .Collect}} <span class="badge collect">next GC deletes it</span>{{end}}{{if not .Bumped.IsZero}} <span class="badge bumped" title="bumped {{.Bumped.UTC.Format "2006-01-02 15:04 UTC"}}">bumped</span>{{end}}</td>
<td data-label="Size" class="n">{{if .HasUsage}}<span class="nw">{{size .Bytes}}</span>{{if .NewBytes}}<br><small class="mute nw">+{{size .NewBytes}} new</small>{{end}}{{else}}—{{end}}</td></tr>
{{end}}</table></div>{{end}}
{{if .Tags}}<h2>Tagged snapshots</h2><div class="scroll"><table id="tags" class="cards">
<thead><tr><th>Tag</th><th>Created</th><th>Suites</th></tr></thead>
{{range .Tags}}<tr class="tag" data-serial="{{.Serial}}"><td data-label="Tag"><a href="{{path .Serial}}/">{{.Tag}}</a></td><td data-label="Created">{{when .Created}}</td><td data-label="Suites">{{range $i, $s := .Suites}}{{if $i}}, {{end}}{{$s}}{{end}}</td></tr>
{{end}}</table></div>{{end}}
<h2 id="pulses">Pulses</h2>
{{with .PulseLog}}{{template "pulsechart" .}}{{end}}
{{if not .Pulses}}<p class="mute">No pulse yet.</p>{{else}}<div class="scroll"><table id="pulse-log" class="cards">
<thead><tr><th>Started</th><th>Took</th><th>Result</th></tr></thead>
{{range .Pulses}}<tr class="pulse" data-result="{{if .OK}}ok{{else}}failed{{end}}"><td data-label="Started">{{when .Started}}</td><td data-label="Took" class="n took">{{.Took}}</td>
<td data-label="Result" class="wide">{{if .OK}}<span class="ok">ok</span> <a class="mono" href="{{path .Serial}}/">{{.Serial}}</a>{{else}}<span class="bad">failed</span> <span class="reason">{{.Reason}}</span><div class="error mono wrap">{{.Error}}</div>{{end}}</td></tr>
{{end}}</table></div>{{end}}
{{with .Storage}}<h2 id="storage">Storage</h2>{{template "storagechart" .}}{{end}}`,

	"snapshot": `<h1>{{.Snap.Archive}} <span class="mono">{{.Snap.Serial}}</span></h1>
<p>Created {{when .Snap.Created}}{{if .Snap.Tag}} · tagged <b>{{.Snap.Tag}}</b>, never expires{{else}} · valid until {{when .Snap.ValidUntil}} (<span class="{{if .Snap.Expired}}bad{{else if .Snap.Soon}}warn{{end}}" id="expires">{{.Snap.Expires}}</span>){{end}}
{{if .Previous}}· <a href="../diff?from={{query .Previous}}&amp;to={{query .Snap.Serial}}">changes since {{.Previous}}</a>{{end}}</p>
{{range .Suites}}<section class="suite" data-suite="{{.Name}}"><h2>{{.Name}} <small class="mute">{{plural .Packages "package"}}</small></h2>
<pre class="sources">{{.SourceLine}}</pre>
<div class="scroll"><table><thead><tr><th>Index</th><th>Count</th></tr></thead>
{{range .Indices}}<tr class="index"><td class="mono wrap">{{.Path}}</td><td class="n">{{.Count}} <small class="mute">{{.Unit}}</small></td></tr>{{end}}
</table></div></section>{{end}}
<p class="mute wrap"><small>Key: <a href="{{.KeyURL}}">{{.KeyURL}}</a> (save it as /etc/apt/keyrings/aptsnap.asc)</small></p>`,

	"diff": `<h1>{{.Archive}}: <span class="mono">{{.From.Serial}}</span> → <span class="mono">{{.To.Serial}}</span></h1>
<p id="summary">{{plural .Total "change"}}{{range .Groups}} · {{len .Changes}} {{.Kind}}{{end}} <small class="mute" id="took">({{.Took}})</small></p>
{{range .Groups}}{{if .Changes}}<h2>{{.Kind}} <small class="mute">{{len .Changes}}</small></h2>
<div class="scroll"><table id="{{.Kind}}" class="cards"><thead><tr><th>Package</th><th>From</th><th>To</th><th>Where</th></tr></thead>
{{range .Changes}}<tr class="{{.Kind}}" data-package="{{.Name}}"><td data-label="Package" class="wide wrap"><a href="package/{{path .Name}}">{{.Name}}</a></td><td data-label="From" class="mono v from">{{.From}}</td><td data-label="To" class="mono v to">{{.To}}</td><td data-label="Where" class="mute where wide"><small>{{.Suite}} {{.Comp}} {{.Arch}}</small></td></tr>
{{end}}</table></div>{{end}}{{end}}
{{if not .Total}}<p class="mute">No package changed.</p>{{end}}`,

	"package": `<h1>{{.Name}} <small class="mute">in {{.Archive}}</small></h1>
<p class="mute">{{plural (len .Versions) "version"}} across {{plural .Scanned "snapshot"}}.</p>
<div class="scroll"><table id="versions" class="cards"><thead><tr><th>Version</th><th>Snapshots</th><th>Where</th></tr></thead>
{{range .Versions}}<tr class="version" data-version="{{.Version}}"><td data-label="Version" class="mono v wide">{{.Version}}</td>
<td data-label="Snapshots">{{range $i, $r := .Runs}}{{if $i}}, {{end}}<a class="mono" href="../{{path $r.First}}/">{{$r.First}}</a>{{if ne $r.First $r.Last}} … <a class="mono" href="../{{path $r.Last}}/">{{$r.Last}}</a> <small class="mute">({{$r.N}})</small>{{end}}{{end}}{{range .Tags}} <a href="../{{path .}}/">{{.}}</a>{{end}}</td>
<td data-label="Where" class="mute"><small>{{range $i, $w := .Where}}{{if $i}}<br>{{end}}{{$w}}{{end}}</small></td></tr>
{{end}}</table></div>`,

	"tags": `<h1>Tags</h1>
{{if not .}}<p class="mute">No tag yet: <code>aptsnap tag create</code> makes one.</p>{{else}}<div class="scroll"><table id="taglist" class="cards">
<thead><tr><th>Tag</th><th>Archives</th><th>Created</th></tr></thead>
{{range $t := .}}<tr class="tag" data-tag="{{.Tag}}"><td data-label="Tag" class="wrap"><b>{{.Tag}}</b></td>
<td data-label="Archives">{{range $i, $a := .Archives}}{{if $i}}, {{end}}<a href="/ui/{{path $a}}/{{path (printf "@%s" $t.Tag)}}/">{{$a}}</a>{{end}}</td><td data-label="Created">{{when .Created}}</td></tr>
{{end}}</table></div>{{end}}`,

	"storage": `<h1>Storage</h1>
<h2>Next garbage collection</h2>
{{if .HasGC}}<p id="gc-summary">It would delete {{plural (len .GC.Expired) "expired snapshot"}} and <b>{{plural .GC.Files "stored file"}}, {{size .GC.Bytes}}</b>, and keep {{plural .GC.Kept "file"}}{{if .GC.HasStored}} of the {{size .GC.StoredBytes}} stored{{end}}. <small class="mute">Dry run at {{when .AsOf}}.</small></p>
{{if .GC.HasStored}}<svg class="chart gc" id="gc-bar" role="img" aria-label="The store: what the next GC keeps and deletes" width="100%" height="16"><rect class="kept" x="0" width="100%" y="0" height="16"/><rect class="free" x="{{pct (subf 100 .FreeShare)}}" width="{{pct .FreeShare}}" y="0" height="16"/></svg>
<p class="legend"><span><i class="held"></i>kept {{size (subi .GC.StoredBytes .GC.Bytes)}}</span><span><i class="free"></i>deleted {{size .GC.Bytes}}</span></p>{{end}}
{{if .Expired}}<div class="scroll"><table id="gc-expired" class="cards"><thead><tr><th>Archive</th><th>Snapshot</th><th>Expired</th></tr></thead>
{{range .Expired}}<tr class="expired" data-archive="{{.Archive}}" data-serial="{{.Serial}}"><td data-label="Archive"><a href="/ui/{{path .Archive}}/">{{.Archive}}</a></td><td data-label="Snapshot"><a class="mono" href="/ui/{{path .Archive}}/{{path .Serial}}/">{{.Serial}}</a></td><td data-label="Expired" class="wide">{{when .ValidUntil}} <small class="mute">({{.Expires}})</small></td></tr>
{{end}}</table></div>{{end}}
{{else if .GCError}}<p class="err" id="gc-error">{{.GCError}}</p>{{else}}<p class="mute">Not known here: <code>aptsnap gc --dry-run</code> tells.</p>{{end}}
<h2>By archive</h2>
{{with .Bars}}{{template "archivebars" .}}{{end}}
<div class="scroll"><table id="storage" class="cards"><thead><tr><th>Archive</th><th>Snapshots</th><th>Held</th><th>Newest</th><th>Next GC deletes</th></tr></thead>
{{range .Archives}}<tr class="archive" data-archive="{{.Archive}}"><td data-label="Archive"><a href="/ui/{{path .Archive}}/#storage">{{.Archive}}</a></td><td data-label="Snapshots" class="n">{{.Snapshots}}</td>
<td data-label="Held" class="n held">{{size .Held}}</td><td data-label="Newest" class="n">{{size .Newest}}</td><td data-label="Next GC deletes" class="n">{{plural .Collect "snapshot"}}</td></tr>
{{end}}</table></div>
<p class="mute"><small>Held: what an archive's snapshots reference, each file once; stored files are shared between archives, and the store also holds the tagged snapshots' files.</small></p>`,

	"updates": `<h1>Pending updates</h1>
<p class="mute" id="summary">{{range $i, $c := .Counts}}{{if $i}} · {{end}}<span class="nw" data-state="{{.State}}">{{.N}} {{.State}}</span>{{end}}</p>
{{if lt .Read .Total}}<p class="warn" id="cut">Read {{.Read}} of {{.Total}} requests: every one under way, then the newest done with; the {{sub .Total .Read}} oldest released or rejected are not listed (<code>aptsnap update list</code> lists all).</p>{{end}}
{{if not .Total}}<p class="mute">No update request yet: <code>aptsnap update new</code> opens one.</p>{{end}}
{{range .Groups}}{{if .Rows}}<section class="group" id="{{.ID}}"><h2>{{.Title}} <small class="mute">{{len .Rows}} · {{.Note}}</small></h2>
<div class="scroll"><table class="cards updates pending"><thead><tr><th>Update</th><th>Series</th><th>Family and versions</th><th>Kind</th><th>State</th><th>In -proposed</th><th>Last verification</th><th>Phase</th></tr></thead>
{{range .Rows}}{{template "updaterow" .}}{{end}}</table></div></section>
{{end}}{{end}}
{{if .Done}}<section class="group" id="done"><h2>Done <small class="mute">{{if gt .DoneAll (len .Done)}}the newest {{len .Done}} of {{.DoneAll}}{{else}}{{len .Done}}{{end}} · rejected, or released to every machine</small></h2>
<div class="scroll"><table class="cards updates"><thead><tr><th>Update</th><th>Series</th><th>Family and versions</th><th>Kind</th><th>State</th><th>Last change</th></tr></thead>
{{range .Done}}<tr class="update" data-id="{{.ID}}" data-state="{{.State}}"><td data-label="Update"><a href="/ui/-/updates/{{.ID}}">#{{.ID}}</a></td><td data-label="Series" class="nw">{{.Series}}</td>
<td data-label="Family and versions" class="wide">{{template "family" .}}</td><td data-label="Kind">{{.Kind}}</td><td data-label="State"><span class="state {{.State}}">{{.State}}</span></td><td data-label="Last change">{{when .Updated}}</td></tr>
{{end}}</table></div></section>{{end}}`,

	"update": `<h1>Update {{.R.ID}}: {{range $i, $s := .R.Sources}}{{if $i}}, {{end}}{{$s}}{{end}} <span class="mono">{{.R.Version}}</span></h1>
<p id="state"><span class="state {{.R.State}}">{{.R.State}}</span> {{.R.Kind}} update in {{.R.SeriesName}}{{if .R.Busy}} · <span class="warn" id="busy">{{.R.Busy.Action}} by {{.R.Busy.By}} under way since {{when .R.Busy.At}}</span>{{end}}</p>
<div class="scroll"><table id="facts" class="facts"><tbody>
<tr><th>Series</th><td>{{.R.SeriesName}} <small class="mute">(pockets {{.R.Series}}-proposed and {{.R.Series}}-updates)</small></td></tr>
<tr><th>Family</th><td>{{range $i, $s := .R.Sources}}{{if $i}}, {{end}}{{$s}}{{end}}</td></tr>
<tr><th>Upstream version</th><td class="mono">{{.R.Version}}</td></tr>
<tr><th>Kind</th><td>{{.R.Kind}}</td></tr>
<tr><th>Created</th><td>{{when .R.Created}} by {{.R.Creator}}</td></tr>
<tr><th>Submitted by</th><td>{{if .R.Submitter}}{{.R.Submitter}}{{else}}—{{end}}</td></tr>
<tr><th>Reviewed by</th><td>{{if .R.Reviewer}}{{.R.Reviewer}}{{else}}—{{end}}</td></tr>
<tr><th>In -proposed</th><td id="proposed">{{if .Proposed}}{{range $i, $v := .Proposed}}{{if $i}}, {{end}}<span class="nw">{{$v.Source}} <span class="mono v">{{$v.Version}}</span></span>{{end}}<br><small class="mute">since {{when .R.ProposedAt}}{{if .Row.InProposed}} · <span class="days">{{plural .Row.Days "day"}}</span>{{if eq .Row.State "released"}} until released{{end}}{{end}}{{with .R.ProposedSerial}} · snapshot <a class="mono" href="/ui/{{path $.R.Archive}}/{{path .}}/">{{.}}</a>{{end}}</small>{{else}}—{{end}}</td></tr>
<tr><th>Released</th><td id="released">{{if .Released}}{{range $i, $v := .Released}}{{if $i}}, {{end}}<span class="nw">{{$v.Source}} <span class="mono v">{{$v.Version}}</span></span>{{end}}<br><small class="mute">into {{.R.Series}}-updates {{when .R.ReleasedAt}}</small>{{else}}—{{end}}</td></tr>
<tr><th>Last change</th><td>{{when .R.Updated}} <small class="mute">revision {{.R.Revision}}</small></td></tr>
</tbody></table></div>

<h2 id="sections">The request</h2>
{{range .Sections}}<section class="section" data-section="{{.Name}}"><h3>[{{.Name}}]</h3><pre class="text">{{.Text}}</pre></section>
{{end}}
<h2 id="uploads">Uploads <small class="mute">{{len .Uploads}}</small></h2>
{{if not .Uploads}}<p class="mute">None yet: <code>aptsnap update upload {{.R.ID}} FILE.changes…</code> uploads the family.</p>{{else}}<div class="scroll"><table id="upload-list" class="cards">
<thead><tr><th>#</th><th>When</th><th>By</th><th>Versions</th><th>Where</th><th>.changes, signed by</th></tr></thead>
{{range .Uploads}}<tr class="upload" data-n="{{.N}}"><td data-label="#">{{.N}}</td><td data-label="When" class="nw">{{when .At}}</td>
<td data-label="By">{{.By}}</td><td data-label="Versions">{{range $i, $v := .Versions}}{{if $i}}<br>{{end}}<span class="nw">{{$v.Source}} <span class="mono v">{{$v.Version}}</span></span>{{end}}</td>
<td data-label="Where" class="where-upload">{{if .Serial}}in -proposed <a class="mono" href="/ui/{{path $.R.Archive}}/{{path .Serial}}/">{{.Serial}}</a>{{else if .Superseded}}<span class="mute">superseded</span>{{else}}<span class="warn">waiting</span> <small class="mute">to be accepted</small>{{end}}</td>
<td data-label=".changes, signed by" class="wide">{{range .Changes}}<span class="mono wrap">{{.Source}}</span><br><small class="mute mono wrap">{{.Version}}</small><br>{{end}}<small class="mute">{{plural (len .Files) "file"}}{{if .Bytes}}, {{size .Bytes}}{{end}}</small></td></tr>
{{end}}</table></div>{{end}}

<h2 id="draft">[Major Changes] draft</h2>
{{if .R.Draft}}<p class="mute"><small>What aptsnap wrote from the uploads, for the [Major Changes] section.</small></p><pre id="major-changes-draft">{{.R.Draft}}</pre>{{else}}<p class="mute">None: no upload yet.</p>{{end}}

<h2 id="verifications">Verifications <small class="mute">{{len .Verifications}}</small></h2>
{{if not .Verifications}}<p class="mute">None yet{{if .Row.InProposed}}: <code>aptsnap update verify {{.R.ID}}</code> runs the checks and the test plan{{end}}.</p>{{end}}
{{range .Verifications}}<section class="verification" id="verification-{{.N}}" data-passed="{{.Passed}}"><h3>Verification {{.N}}: {{if .Passed}}<span class="ok">passed</span>{{else}}<span class="bad">failed</span>{{end}} <small class="mute">by {{.By}}, {{when .At}}</small></h3>
<p><small>On {{range $i, $v := .Versions}}{{if $i}}, {{end}}<span class="nw">{{$v.Source}} <span class="mono">{{$v.Version}}</span></span>{{end}}{{if .Serials}}<br>Snapshots used: {{range $i, $s := .Serials}}{{if $i}}, {{end}}<span class="nw">{{$s.Name}} <a class="mono" href="{{$s.Href}}">{{$s.Serial}}</a></span>{{end}}{{end}}{{if .Binaries}}<br><span class="mute">Installed: {{range $i, $b := .Binaries}}{{if $i}}, {{end}}<span class="nw">{{$b.Source}} <span class="mono">{{$b.Version}}</span></span>{{end}}</span>{{end}}</small></p>
<div class="scroll"><table class="cards checks"><thead><tr><th>Check</th><th>Outcome</th><th>Started</th><th>Took</th><th>Log</th></tr></thead>
{{range .Checks}}<tr class="check" data-passed="{{.Passed}}"><td data-label="Check" class="wide"><b>{{.Name}}</b>{{if .Command}}<br><code class="wrap">{{.Command}}</code>{{end}}</td>
<td data-label="Outcome">{{if .Passed}}<span class="ok">passed</span>{{else}}<span class="bad">FAILED</span>{{end}}</td><td data-label="Started">{{when .Started}}</td><td data-label="Took" class="n">{{.Took}}</td>
<td data-label="Log">{{if .Href}}<a class="log" href="{{.Href}}">log</a> <small class="mute nw">{{size .LogBytes}}</small>{{else}}<span class="mute">none</span>{{end}}</td></tr>
{{end}}</table></div>
{{if .Comment}}<pre class="comment">{{.Comment}}</pre>{{end}}</section>
{{end}}
<h2 id="phasing">Phasing</h2>
{{if eq .Row.State "released"}}<p id="phase"><b>{{.R.Phase}} %</b> of machines take it{{if .R.Halted}} · <span class="bad halted">halted</span>: the schedule no longer raises it{{else if lt .R.Phase 100}}, raised on the series' schedule{{end}} <small class="mute">since {{when .R.PhaseChanged}}</small></p>
<svg class="chart phase" id="phase-bar" role="img" aria-label="Phased to {{.R.Phase}} %" width="100%" height="12"><rect class="unphased" x="0" width="100%" y="0" height="12"/><rect class="phased" x="0" width="{{.R.Phase}}%" y="0" height="12"/></svg>
{{else}}<p class="mute">Not released.</p>{{end}}

<h2 id="history">History</h2>
<div class="scroll"><table id="history-table" class="cards"><thead><tr><th>When</th><th>By</th><th>Action</th><th>State</th><th>Note</th></tr></thead>
{{range .R.History}}<tr class="event" data-action="{{.Action}}"><td data-label="When" class="nw">{{when .At}}</td><td data-label="By">{{.By}}</td><td data-label="Action">{{.Action}}</td>
<td data-label="State">{{if .To}}{{if .From}}<span class="nw">{{.From}}</span> → {{end}}<b class="nw">{{.To}}</b>{{else}}<span class="mute">—</span>{{end}}</td>{{if .Note}}<td data-label="Note" class="wide wrap">{{.Note}}</td>{{else}}<td></td>{{end}}</tr>
{{end}}</table></div>`,
}

// updateRows are the rows of the pending-updates report.
const updateRows = `
{{define "family"}}{{if .Versions}}{{range $i, $v := .Versions}}{{if $i}}<br>{{end}}<span class="nw">{{$v.Source}} <span class="mono v">{{$v.Version}}</span></span>{{end}}{{else}}{{range $i, $s := .Sources}}{{if $i}}, {{end}}{{$s}}{{end}}<br><small class="mute">upstream <span class="mono">{{.Upstream}}</span>, nothing uploaded</small>{{end}}{{end}}
{{define "updaterow"}}<tr class="update" data-id="{{.ID}}" data-state="{{.State}}"><td data-label="Update"><a href="/ui/-/updates/{{.ID}}">#{{.ID}}</a></td><td data-label="Series">{{.Series}}</td>
<td data-label="Family and versions" class="wide family">{{template "family" .}}</td><td data-label="Kind">{{.Kind}}</td>
<td data-label="State"><span class="state {{.State}}">{{.State}}</span>{{if .Busy}} <span class="badge">busy: {{.Busy}}</span>{{end}}</td>
<td data-label="In -proposed" class="n days">{{if .InProposed}}<span class="nw" title="since {{.Since.UTC.Format "2006-01-02 15:04 UTC"}}">{{plural .Days "day"}}</span>{{if eq .State "released"}}<br><small class="mute">until released</small>{{end}}{{else}}—{{end}}</td>
<td data-label="Last verification" class="verification">{{with .Last}}{{if .Passed}}<span class="ok">passed</span>{{else}}<span class="bad">failed</span>{{end}} <small class="mute">#{{.N}} by {{.By}}, {{when .At}}</small>{{range .Failed}}<br><small class="failed-check">✗ {{if .Href}}<a class="log" href="{{.Href}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</small>{{end}}{{else}}<span class="mute">none</span>{{end}}</td>
<td data-label="Phase" class="n phase">{{if eq .State "released"}}<span class="nw">{{.Phase}} %</span>{{if .Halted}} <span class="bad halted">halted</span>{{end}}{{else}}—{{end}}</td></tr>
{{end}}
`

// templates are parsed on first use: a command that serves no page (a
// pulse, a gc) spends neither the time nor the 1.3 MB.
var templates = sync.OnceValue(func() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(funcs).Parse(layout + charts + updateRows + `{{define "content"}}{{end}}`))
	m := map[string]*template.Template{"": base}
	for name, text := range pages {
		m[name] = template.Must(template.Must(base.Clone()).Parse(`{{define "content"}}` + text + `{{end}}`))
	}
	return m
})

// render writes a page, buffered so that a template error is not half sent.
func render(w io.Writer, p *page) error {
	var b bytes.Buffer
	if err := templates()[p.Tmpl].ExecuteTemplate(&b, "layout", p); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
