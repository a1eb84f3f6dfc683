package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a config: where it is and what was expected.
type Problem struct {
	Path string // field path, such as "display.refresh" or "models[1].file"
	Line int    // line in the file, 0 when unknown
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Msg)
	}
	return p.Path + ": " + p.Msg
}

// Problems is every problem found in one config, in file order. It is the error Load and
// Validate return, so that an operator sees all mistakes at once.
type Problems struct {
	File string
	List []Problem
}

func (ps *Problems) Error() string {
	var b strings.Builder
	name := ps.File
	if name == "" {
		name = "config"
	}
	fmt.Fprintf(&b, "configs: %s: %d problem(s)", name, len(ps.List))
	for _, p := range ps.List {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Add appends a problem at field path; the rig's dry-run (rig.Check) adds what only opening the
// parts finds.
func (ps *Problems) Add(path, format string, args ...any) { ps.add(path, format, args...) }

// Err is ps as an error, or nil when it lists no problem.
func (ps *Problems) Err() error {
	if len(ps.List) == 0 {
		return nil
	}
	return ps
}

func (ps *Problems) add(path, format string, args ...any) {
	ps.List = append(ps.List, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Load reads, strictly decodes and validates the config at path. Fields the file leaves out
// keep their Default values; unknown fields, bad values and failed checks are all reported
// together in a *Problems. Relative paths inside the file are made relative to its folder.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; name is used in messages and to resolve relative paths.
func Parse(name string, data []byte) (*Config, error) {
	cfg := Default()
	cfg.File = name
	ps := &Problems{File: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		ps.List = append(ps.List, yamlProblems(err, fieldPaths{})...)
		return nil, ps
	}
	lines := fieldLines(&root)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		ps.List = append(ps.List, yamlProblems(err, lines)...)
	}
	// Checks run even after decode errors (the decoder fills what it could), so that every
	// problem is reported in one go; a field that failed to decode keeps its default.
	cfg.resolvePaths(filepath.Dir(name))
	if v := cfg.Validate(); v != nil {
		ps.List = append(ps.List, v.(*Problems).List...)
	}
	if len(ps.List) > 0 {
		for i := range ps.List {
			if ps.List[i].Line == 0 {
				ps.List[i].Line = lines.line(ps.List[i].Path)
			}
		}
		sort.SliceStable(ps.List, func(i, j int) bool { return ps.List[i].Line < ps.List[j].Line })
		return nil, ps
	}
	return &cfg, nil
}

// resolvePaths makes the file paths in c relative to dir (the config file's folder).
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Display.Gamma.LUT)
	abs(&c.Photodiode.Calibration)
	abs(&c.NATS.Credentials)
	abs(&c.NATS.TLS.CA)
	abs(&c.NATS.TLS.Cert)
	abs(&c.NATS.TLS.Key)
	abs(&c.NATS.NKey)
	abs(&c.NATS.ServerTLS.Cert)
	abs(&c.NATS.ServerTLS.Key)
	abs(&c.NATS.ServerTLS.ClientCA)
	for i := range c.Models {
		abs(&c.Models[i].File)
	}
	abs(&c.Stimulus.Natural.Dir)
	abs(&c.Stimulus.Movie.File)
	abs(&c.Recording.Dir)
	for i := range c.Control.ModelDirs {
		abs(&c.Control.ModelDirs[i])
	}
}

// fieldPaths maps field paths ("display.refresh", "models[0].file") to their line, and lines
// back to the path of the mapping key that starts there.
type fieldPaths struct {
	byPath map[string]int
	byLine map[int]string
}

func (f fieldPaths) line(path string) int {
	for path != "" {
		if l, ok := f.byPath[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func fieldLines(root *yaml.Node) fieldPaths {
	f := fieldPaths{byPath: map[string]int{}, byLine: map[int]string{}}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				f.byPath[p] = k.Line
				f.byLine[k.Line] = p
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := path + "[" + strconv.Itoa(i) + "]"
				f.byPath[p] = c.Line
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return f
}

var (
	yamlLine     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	unmarshalErr = regexp.MustCompile(`^cannot unmarshal !!(\w+) ` + "`" + `(.*)` + "`" + ` into (\S+)$`)
)

// yamlProblems turns yaml.v3's errors into Problems with field paths and plain words.
func yamlProblems(err error, lines fieldPaths) []Problem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		p := Problem{Path: "(file)", Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
			if path, ok := lines.byLine[p.Line]; ok {
				p.Path = path
			}
			if um := unknownField.FindStringSubmatch(p.Msg); um != nil {
				p.Msg = fmt.Sprintf("unknown field %q (not part of %s)", um[1], strings.TrimPrefix(um[2], "configs."))
			} else if um := unmarshalErr.FindStringSubmatch(p.Msg); um != nil {
				p.Msg = fmt.Sprintf("cannot use %q: want %s", um[2], kindWord(um[3]))
			}
		}
		out = append(out, p)
	}
	return out
}

func kindWord(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "a " + strings.TrimPrefix(goType, "configs.") + " block"
}
