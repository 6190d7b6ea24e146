// Command goyaml is a test oracle: it reads YAML with go-yaml v3 (the library sops uses) and prints
// the values sops would see, as JSON with explicit types; it can also write a typed tree the way
// sops writes YAML (yaml.v3 Encoder, sops's indentation), and decode JSON with encoding/json.
//
// It serves many requests per run. Each request on standard input is a header line
// "MODE ARG LENGTH\n" followed by LENGTH bytes; each answer is one JSON line on standard output.
//
// Modes:
//
//	sops   ARG unused: the documents as sops's YAML store reads them (a yaml.Node per document,
//	       walked as sops walks it: aliases followed, `<<` kept as a key, comments dropped).
//	value  ARG unused: yaml.Unmarshal of every document into interface{} (go-yaml's own checks,
//	       e.g. its alias-ratio limit and duplicate keys).
//	encode ARG = indent: the body is a JSON array of typed documents (the answer's format);
//	       the answer is {"yaml": TEXT} as sops's EmitPlainFile writes it.
//	json   ARG unused: the body decoded with encoding/json (UseNumber) into typed values.
//
// Typed values: {"t":"null"}, {"t":"str","v":S} (or "b64" when S is not valid UTF-8),
// {"t":"int","v":"DECIMAL"}, {"t":"uint","v":"DECIMAL"}, {"t":"float","v":"%g text"},
// {"t":"bool","v":true}, {"t":"time","v":"RFC 3339 with nanoseconds"},
// {"t":"map","v":[[KEY, VALUE]...]}, {"t":"list","v":[VALUE...]}, {"t":"comment","v":TEXT}.
// Errors: {"error": MESSAGE}.
//
// Test-only code: it is built and run by test/goyaml.test.ts, never shipped.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

type typed = map[string]interface{}

// ---------------------------------------------------------------------------------------------
// Reading: sops's walk over yaml.Node

// walker mirrors sops's stores/yaml nodeToTreeValue, with a budget so that alias bombs end.
type walker struct {
	budget int
	active map[*yaml.Node]bool
}

var errBudget = errors.New("document contains excessive aliasing")

func (w *walker) value(n *yaml.Node) (typed, error) {
	w.budget--
	if w.budget < 0 {
		return nil, errBudget
	}
	switch n.Kind {
	case yaml.AliasNode:
		if w.active[n.Alias] {
			return nil, fmt.Errorf("anchor '%s' value contains itself", n.Value)
		}
		w.active[n.Alias] = true
		defer delete(w.active, n.Alias)
		return w.value(n.Alias)
	case yaml.SequenceNode:
		items := []interface{}{}
		for _, c := range n.Content {
			v, err := w.value(c)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return typed{"t": "list", "v": items}, nil
	case yaml.MappingNode:
		return w.mapping(n)
	case yaml.ScalarNode:
		var out interface{}
		if err := n.Decode(&out); err != nil {
			return nil, err
		}
		return scalar(out)
	}
	return nil, fmt.Errorf("unexpected node kind %d", n.Kind)
}

func keyText(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n.Value
}

func (w *walker) mapping(n *yaml.Node) (typed, error) {
	pairs := []interface{}{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := keyText(n.Content[i])
		if seen[k] {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		seen[k] = true
		v, err := w.value(n.Content[i+1])
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, []interface{}{k, v})
	}
	return typed{"t": "map", "v": pairs}, nil
}

func scalar(v interface{}) (typed, error) {
	switch v := v.(type) {
	case nil:
		return typed{"t": "null"}, nil
	case string:
		if utf8.ValidString(v) {
			return typed{"t": "str", "v": v}, nil
		}
		return typed{"t": "str", "b64": base64.StdEncoding.EncodeToString([]byte(v))}, nil
	case int:
		return typed{"t": "int", "v": strconv.Itoa(v)}, nil
	case int64:
		return typed{"t": "int", "v": strconv.FormatInt(v, 10)}, nil
	case uint64:
		return typed{"t": "uint", "v": strconv.FormatUint(v, 10)}, nil
	case float64:
		return typed{"t": "float", "v": strconv.FormatFloat(v, 'g', -1, 64)}, nil
	case bool:
		return typed{"t": "bool", "v": v}, nil
	case time.Time:
		return typed{"t": "time", "v": v.Format(time.RFC3339Nano)}, nil
	case json.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return typed{"t": "int", "v": string(v)}, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, err
		}
		return typed{"t": "float", "v": strconv.FormatFloat(f, 'g', -1, 64)}, nil
	case []interface{}:
		items := []interface{}{}
		for _, x := range v {
			t, err := scalar(x)
			if err != nil {
				return nil, err
			}
			items = append(items, t)
		}
		return typed{"t": "list", "v": items}, nil
	case map[string]interface{}:
		return nil, errors.New("unordered map")
	}
	return nil, fmt.Errorf("unexpected Go type %T", v)
}

// sopsLoad reads every document as sops's LoadPlainFile does.
func sopsLoad(in []byte) (interface{}, error) {
	dec := yaml.NewDecoder(bytes.NewReader(in))
	docs := []interface{}{}
	w := &walker{budget: 200_000, active: map[*yaml.Node]bool{}}
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var root *yaml.Node
		if len(doc.Content) > 0 {
			root = doc.Content[0]
		}
		for root != nil && root.Kind == yaml.AliasNode {
			root = root.Alias
		}
		switch {
		case root == nil:
			docs = append(docs, typed{"t": "map", "v": []interface{}{}})
		case root.Kind == yaml.MappingNode:
			m, err := w.mapping(root)
			if err != nil {
				return nil, err
			}
			docs = append(docs, m)
		case root.Kind == yaml.SequenceNode:
			return nil, errors.New("YAML documents that are sequences are not supported")
		case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
			docs = append(docs, typed{"t": "map", "v": []interface{}{}})
		default:
			return nil, errors.New("YAML documents that are values are not supported")
		}
	}
	return docs, nil
}

// valueLoad decodes every document into interface{}: go-yaml's own limits apply.
func valueLoad(in []byte) (interface{}, error) {
	dec := yaml.NewDecoder(bytes.NewReader(in))
	n := 0
	for {
		var v interface{}
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		n++
	}
	return n, nil
}

// ---------------------------------------------------------------------------------------------
// Writing: sops's treeValueToNode / appendTreeBranch

type tnode struct {
	T   string          `json:"t"`
	V   json.RawMessage `json:"v"`
	B64 string          `json:"b64"`
}

func goValue(t tnode) (interface{}, error) {
	switch t.T {
	case "null":
		return nil, nil
	case "str":
		if t.B64 != "" {
			b, err := base64.StdEncoding.DecodeString(t.B64)
			return string(b), err
		}
		var s string
		err := json.Unmarshal(t.V, &s)
		return s, err
	case "int":
		var s string
		if err := json.Unmarshal(t.V, &s); err != nil {
			return nil, err
		}
		return strconv.Atoi(s)
	case "uint":
		var s string
		if err := json.Unmarshal(t.V, &s); err != nil {
			return nil, err
		}
		return strconv.ParseUint(s, 10, 64)
	case "float":
		var s string
		if err := json.Unmarshal(t.V, &s); err != nil {
			return nil, err
		}
		switch s {
		case "+Inf", "Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		}
		return strconv.ParseFloat(s, 64)
	case "bool":
		var b bool
		err := json.Unmarshal(t.V, &b)
		return b, err
	case "time":
		var s string
		if err := json.Unmarshal(t.V, &s); err != nil {
			return nil, err
		}
		return time.Parse(time.RFC3339Nano, s)
	}
	return nil, fmt.Errorf("unknown scalar type %q", t.T)
}

func addHead(n *yaml.Node, comments []string) {
	if len(comments) == 0 {
		return
	}
	c := "#" + strings.Join(comments, "\n#")
	if n.HeadComment != "" {
		n.HeadComment = c + "\n" + n.HeadComment
	} else {
		n.HeadComment = c
	}
}

func addFoot(n *yaml.Node, comments []string) {
	if len(comments) == 0 {
		return
	}
	c := "#" + strings.Join(comments, "\n#")
	if n.FootComment != "" {
		n.FootComment += "\n" + c
	} else {
		n.FootComment = c
	}
}

func commentText(t tnode) (string, bool) {
	if t.T != "comment" {
		return "", false
	}
	var s string
	_ = json.Unmarshal(t.V, &s)
	return s, true
}

func toNode(t tnode) (*yaml.Node, error) {
	switch t.T {
	case "map":
		var pairs [][2]json.RawMessage
		if err := json.Unmarshal(t.V, &pairs); err != nil {
			return nil, err
		}
		m := &yaml.Node{Kind: yaml.MappingNode}
		var comments []string
		first := true
		for _, p := range pairs {
			var k string
			var v tnode
			if err := json.Unmarshal(p[1], &v); err != nil {
				return nil, err
			}
			if c, ok := commentText(v); ok {
				comments = append(comments, c)
				continue
			}
			if err := json.Unmarshal(p[0], &k); err != nil {
				return nil, err
			}
			if first {
				addHead(m, comments)
				comments = nil
				first = false
			}
			kn := &yaml.Node{}
			if err := kn.Encode(k); err != nil {
				return nil, err
			}
			addHead(kn, comments)
			comments = nil
			vn, err := toNode(v)
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, kn, vn)
		}
		if first {
			addHead(m, comments)
		} else if len(m.Content) > 0 {
			addFoot(m.Content[len(m.Content)-1], comments)
		}
		return m, nil
	case "list":
		var items []tnode
		if err := json.Unmarshal(t.V, &items); err != nil {
			return nil, err
		}
		s := &yaml.Node{Kind: yaml.SequenceNode}
		var comments []string
		first := true
		for _, it := range items {
			if c, ok := commentText(it); ok {
				comments = append(comments, c)
				continue
			}
			if first {
				addHead(s, comments)
				comments = nil
				first = false
			}
			n, err := toNode(it)
			if err != nil {
				return nil, err
			}
			addHead(n, comments)
			comments = nil
			s.Content = append(s.Content, n)
		}
		if first {
			addHead(s, comments)
		} else {
			addFoot(s.Content[len(s.Content)-1], comments)
		}
		return s, nil
	default:
		v, err := goValue(t)
		if err != nil {
			return nil, err
		}
		n := &yaml.Node{}
		if err := n.Encode(v); err != nil {
			return nil, err
		}
		return n, nil
	}
}

func encode(body []byte, indent int) (interface{}, error) {
	var docs []tnode
	if err := json.Unmarshal(body, &docs); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(indent)
	for _, d := range docs {
		m, err := toNode(d)
		if err != nil {
			return nil, err
		}
		doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}
		if err := e.Encode(doc); err != nil {
			return nil, err
		}
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return map[string]string{"yaml": b.String()}, nil
}

// ---------------------------------------------------------------------------------------------
// JSON: encoding/json's reading of one value (numbers kept as text)

func jsonLoad(body []byte) (interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	return jsonValue(dec, tok)
}

func jsonValue(dec *json.Decoder, tok json.Token) (interface{}, error) {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			pairs := []interface{}{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				vt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := jsonValue(dec, vt)
				if err != nil {
					return nil, err
				}
				pairs = append(pairs, []interface{}{kt, v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return typed{"t": "map", "v": pairs}, nil
		}
		items := []interface{}{}
		for dec.More() {
			vt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := jsonValue(dec, vt)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return typed{"t": "list", "v": items}, nil
	default:
		return scalar(t)
	}
}

// ---------------------------------------------------------------------------------------------

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		header, err := in.ReadString('\n')
		if err == io.EOF && header == "" {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goyaml:", err)
			os.Exit(2)
		}
		var mode string
		var arg, length int
		if _, err := fmt.Sscanf(header, "%s %d %d", &mode, &arg, &length); err != nil {
			fmt.Fprintln(os.Stderr, "goyaml: bad header:", header)
			os.Exit(2)
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(in, body); err != nil {
			fmt.Fprintln(os.Stderr, "goyaml:", err)
			os.Exit(2)
		}
		var res interface{}
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			switch mode {
			case "sops":
				res, err = sopsLoad(body)
			case "value":
				res, err = valueLoad(body)
			case "encode":
				res, err = encode(body, arg)
			case "json":
				res, err = jsonLoad(body)
			default:
				err = fmt.Errorf("unknown mode %q", mode)
			}
		}()
		if err != nil {
			res = map[string]string{"error": err.Error()}
		} else if mode != "encode" {
			res = map[string]interface{}{"ok": res}
		}
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "goyaml:", err)
			os.Exit(2)
		}
		if in.Buffered() == 0 {
			out.Flush()
		}
	}
}
