package stable

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// State is where a request is in the process.
type State string

// The states, in the order a request goes through them.
const (
	Draft              State = "draft"
	Submitted          State = "submitted"
	VerificationNeeded State = "verification-needed"
	VerificationFailed State = "verification-failed"
	VerificationDone   State = "verification-done"
	Released           State = "released"
	Rejected           State = "rejected"
)

// States lists the states in process order.
var States = []State{Draft, Submitted, VerificationNeeded, VerificationFailed, VerificationDone, Released, Rejected}

// Kinds of update.
const (
	// BugFix is an update that only fixes bugs.
	BugFix = "bugfix"
	// Feature is an update bringing new features, under an exception:
	// its [Major Changes] must say what changes.
	Feature = "feature"
)

// Sections of a request, in the order the template writes them.
var Sections = []string{"Impact", "Major Changes", "Test Plan", "Where problems could occur", "Other Info"}

// TODO is what the template puts in each section, to be replaced.
const TODO = "TODO"

// Request is a stable update request: one record for a family of source
// packages moved together to a new upstream version in a series.
type Request struct {
	ID       int64 `json:"id"`
	Revision int   `json:"revision"`
	// Archive and Series name the series: the custom archive and its suite
	// S, whose pockets are S-proposed and S-updates.
	Archive string `json:"archive"`
	Series  string `json:"series"`
	// Sources are the family's source packages.
	Sources []string `json:"sources"`
	// Version is the upstream version the family moves to: each upload's
	// version is this, with an optional epoch and Debian revision.
	Version string `json:"version"`
	Kind    string `json:"kind"`
	State   State  `json:"state"`
	// Sections holds the text of each of Sections.
	Sections map[string]string `json:"sections"`
	// Draft is what aptsnap wrote for [Major Changes] from the uploads.
	Draft string `json:"major_changes_draft,omitempty"`

	Creator   string `json:"creator"`
	Submitter string `json:"submitter,omitempty"`
	Reviewer  string `json:"reviewer,omitempty"`

	// Uploads are the family's uploads, oldest first.
	Uploads []Upload `json:"uploads"`
	// Proposed are the versions in S-proposed (source to version) since
	// ProposedAt, in the snapshot ProposedSerial.
	Proposed       map[string]string `json:"proposed,omitempty"`
	ProposedAt     time.Time         `json:"proposed_at,omitzero"`
	ProposedSerial string            `json:"proposed_serial,omitempty"`

	Verifications []Verification `json:"verifications,omitempty"`

	// Released are the versions released into S-updates, at ReleasedAt.
	Released   map[string]string `json:"released,omitempty"`
	ReleasedAt time.Time         `json:"released_at,omitzero"`
	// Phase is the Phased-Update-Percentage of the released binaries
	// (100: every machine), set at PhaseChanged; Halted stops the schedule.
	Phase        int       `json:"phase,omitempty"`
	PhaseChanged time.Time `json:"phase_changed,omitzero"`
	Halted       bool      `json:"halted,omitempty"`

	// Busy is a change under way (see Engine): others wait for it.
	Busy *Event `json:"busy,omitempty"`
	// History records every change, with who and when.
	History []Event `json:"history"`

	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Name is how messages name the request ("update 3 (certbot 2.9.0)").
func (r *Request) Name() string {
	return fmt.Sprintf("update %d (%s %s)", r.ID, strings.Join(r.Sources, ", "), r.Version)
}

// SeriesName is "archive/series".
func (r *Request) SeriesName() string { return r.Archive + "/" + r.Series }

// Upload is one upload to a request: the files of one or more .changes.
type Upload struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
	// Changes are the .changes files with the key that signed each.
	Changes map[string]string `json:"changes"`
	// Sources are the source packages uploaded, name to version.
	Sources  map[string]string `json:"sources"`
	Binaries []Binary          `json:"binaries"`
	// Files are the files uploaded, stored until the upload goes into
	// S-proposed.
	Files []File `json:"files"`
	// Serial is the S-proposed snapshot the upload went into (empty while
	// it waits for the request to be accepted).
	Serial string `json:"serial,omitempty"`
	// Superseded says a later upload replaced it before it went in.
	Superseded bool `json:"superseded,omitempty"`
	// Changelogs are the changelogs the upload's binaries ship, by source
	// (for the [Major Changes] draft).
	Changelogs map[string]string `json:"changelogs,omitempty"`
}

// File is a file of an upload.
type File struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Event is one change of a request.
type Event struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Action string    `json:"action"`
	From   State     `json:"from,omitempty"`
	To     State     `json:"to,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// Report is what a verification ran and found (see Engine.Verify).
type Report struct {
	// Versions are the family's versions verified, source to version.
	Versions map[string]string `json:"versions"`
	// Binaries are the binaries installed, package to version.
	Binaries map[string]string `json:"binaries,omitempty"`
	// Serials are the snapshots used, "archive/suite" to serial.
	Serials map[string]string `json:"serials,omitempty"`
	Checks  []Check           `json:"checks"`
}

// Check is one check of a verification.
type Check struct {
	Name     string        `json:"name"`
	Command  string        `json:"command,omitempty"`
	Passed   bool          `json:"passed"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// Log is the end of its output (MaxLog bytes at most).
	Log string `json:"log,omitempty"`
}

// MaxLog bounds the log a check keeps.
const MaxLog = 64 << 10

// Verification is a report recorded, with who sent it and when, whether
// every check passed, and the comment it wrote.
type Verification struct {
	Report
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Passed  bool      `json:"passed"`
	Comment string    `json:"comment"`
}

// template returns the sections of a new request.
func template() map[string]string {
	m := map[string]string{}
	for _, s := range Sections {
		m[s] = TODO
	}
	return m
}

var todoRE = regexp.MustCompile(`\bTODO\b`)

// todos lists the sections still holding TODO.
func (r *Request) todos() []string {
	var out []string
	for _, s := range Sections {
		if todoRE.MatchString(r.Sections[s]) {
			out = append(out, "["+s+"]")
		}
	}
	return out
}

// trivialRisk reports whether text says only "none" or "low" (the policy
// wants what could go wrong, and where).
func trivialRisk(text string) bool {
	t := strings.ToLower(strings.Trim(strings.TrimSpace(text), ".!"))
	return slices.Contains([]string{"", "none", "low", "n/a", "no", "nothing", "low risk", "minimal"}, t)
}

// Text renders the request as its sections with headers: what `update
// show` prints and `update edit` edits.
func (r *Request) Text() string {
	var b strings.Builder
	for i, s := range Sections {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%s]\n%s\n", s, strings.TrimRight(r.Sections[s], "\n"))
	}
	return b.String()
}

// ParseText splits text written as Text writes it into sections. Every
// section must be there once, and nothing else.
func ParseText(text string) (map[string]string, error) {
	out := map[string]string{}
	cur := ""
	var body []string
	flush := func() {
		if cur != "" {
			out[cur] = strings.TrimSpace(strings.Join(body, "\n"))
		}
	}
	for n, line := range strings.Split(text, "\n") {
		if name, ok := header(line); ok {
			flush()
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("line %d: [%s] twice", n+1, name)
			}
			cur, body = name, nil
			continue
		}
		if cur == "" {
			if strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("line %d: text before the first section (%q)", n+1, line)
			}
			continue
		}
		body = append(body, line)
	}
	flush()
	for _, s := range Sections {
		if _, ok := out[s]; !ok {
			return nil, fmt.Errorf("section [%s] is missing", s)
		}
	}
	return out, nil
}

// header reports whether line is a section header ("[Impact]").
func header(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "[") || !strings.HasSuffix(t, "]") {
		return "", false
	}
	return section(t[1 : len(t)-1])
}

// section returns the section named name, matched without regard to case.
func section(name string) (string, bool) {
	for _, s := range Sections {
		if strings.EqualFold(strings.TrimSpace(name), s) {
			return s, true
		}
	}
	return "", false
}

// Comment is what a passed verification writes, as the policy asks: which
// checks ran, at which versions.
func comment(rep Report, by string, at time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Verification by %s at %s:", by, at.UTC().Format(time.RFC3339))
	for _, src := range slices.Sorted(maps.Keys(rep.Versions)) {
		fmt.Fprintf(&b, " %s %s;", src, rep.Versions[src])
	}
	b.WriteString("\n")
	for _, c := range rep.Checks {
		outcome := "passed"
		if !c.Passed {
			outcome = "FAILED"
		}
		what := c.Name
		if c.Command != "" {
			what += ": " + c.Command
		}
		fmt.Fprintf(&b, "- %s: %s (%s)\n", what, outcome, c.Duration.Round(time.Second))
	}
	if len(rep.Serials) > 0 {
		b.WriteString("Snapshots used:")
		for _, k := range slices.Sorted(maps.Keys(rep.Serials)) {
			fmt.Fprintf(&b, " %s %s;", k, rep.Serials[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}
