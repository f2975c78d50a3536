// Command geogen converts Natural Earth admin-0 country boundaries, as packaged in TopoJSON by the npm package
// world-atlas (countries-50m.json), into the compact gzipped form that package residency embeds. It is run by
// hand (see go:generate in geometry.go); the build never needs the network or the npm package.
//
//	go run ./audit/residency/internal/geogen -topojson countries-50m.json -codes codes.json -out countries.bin.gz
//
// codes.json is the ISO 3166-1 alpha-2/alpha-3/numeric table of the npm package i18n-iso-countries; it maps
// world-atlas feature ids (ISO numeric) to the alpha-2 codes GeoIP databases use.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
)

type topology struct {
	Transform struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Arcs    [][][2]int64 `json:"arcs"`
	Objects struct {
		Countries struct {
			Geometries []struct {
				Type       string          `json:"type"`
				ID         string          `json:"id"`
				Arcs       json.RawMessage `json:"arcs"`
				Properties struct {
					Name string `json:"name"`
				} `json:"properties"`
			} `json:"geometries"`
		} `json:"countries"`
	} `json:"objects"`
}

// unnumbered gives codes to the features that have no ISO numeric id in Natural Earth. Areas whose status is
// disputed get "" so that the rules treat them as territory of unknown status.
var unnumbered = map[string]string{"Kosovo": "XK"}

func main() {
	topoPath := flag.String("topojson", "", "world-atlas countries-50m.json")
	codesPath := flag.String("codes", "", "i18n-iso-countries codes.json")
	out := flag.String("out", "countries.bin.gz", "output file")
	flag.Parse()
	if err := run(*topoPath, *codesPath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "geogen:", err)
		os.Exit(1)
	}
}

func run(topoPath, codesPath, out string) error {
	var topo topology
	if err := readJSON(topoPath, &topo); err != nil {
		return err
	}
	var codes [][]string
	if err := readJSON(codesPath, &codes); err != nil {
		return err
	}
	num2alpha := map[string]string{}
	for _, c := range codes {
		num2alpha[c[2]] = c[0]
	}
	// Decode delta-encoded arcs into absolute quantized positions.
	arcs := make([][][2]int64, len(topo.Arcs))
	for i, a := range topo.Arcs {
		var x, y int64
		abs := make([][2]int64, len(a))
		for j, p := range a {
			x += p[0]
			y += p[1]
			abs[j] = [2]int64{x, y}
		}
		arcs[i] = abs
	}
	type country struct {
		code  string
		polys [][][][2]int64
	}
	var cs []country
	for _, g := range topo.Objects.Countries.Geometries {
		code, ok := num2alpha[g.ID]
		if !ok {
			code = unnumbered[g.Properties.Name]
		}
		var polyArcs [][][]int
		switch g.Type {
		case "Polygon":
			var p [][]int
			if err := json.Unmarshal(g.Arcs, &p); err != nil {
				return fmt.Errorf("%s: %w", g.Properties.Name, err)
			}
			polyArcs = [][][]int{p}
		case "MultiPolygon":
			if err := json.Unmarshal(g.Arcs, &polyArcs); err != nil {
				return fmt.Errorf("%s: %w", g.Properties.Name, err)
			}
		default:
			return fmt.Errorf("%s: unexpected geometry type %q", g.Properties.Name, g.Type)
		}
		c := country{code: code}
		for _, p := range polyArcs {
			var rings [][][2]int64
			for _, r := range p {
				var ring [][2]int64
				for k, ai := range r {
					var seg [][2]int64
					if ai < 0 {
						src := arcs[^ai]
						seg = make([][2]int64, len(src))
						for j := range src {
							seg[j] = src[len(src)-1-j]
						}
					} else {
						seg = arcs[ai]
					}
					if k > 0 {
						seg = seg[1:]
					}
					ring = append(ring, seg...)
				}
				rings = append(rings, ring)
			}
			c.polys = append(c.polys, rings)
		}
		cs = append(cs, c)
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].code < cs[j].code })

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	w := bufio.NewWriter(zw)
	var buf [binary.MaxVarintLen64]byte
	uv := func(v uint64) { w.Write(buf[:binary.PutUvarint(buf[:], v)]) }
	sv := func(v int64) { w.Write(buf[:binary.PutVarint(buf[:], v)]) }
	f64 := func(v float64) { binary.Write(w, binary.LittleEndian, math.Float64bits(v)) }
	w.WriteString("VARDEGEO1\n")
	f64(topo.Transform.Scale[0])
	f64(topo.Transform.Scale[1])
	f64(topo.Transform.Translate[0])
	f64(topo.Transform.Translate[1])
	uv(uint64(len(cs)))
	for _, c := range cs {
		uv(uint64(len(c.code)))
		w.WriteString(c.code)
		uv(uint64(len(c.polys)))
		for _, p := range c.polys {
			uv(uint64(len(p)))
			for _, r := range p {
				uv(uint64(len(r)))
				var px, py int64
				for _, pt := range r {
					sv(pt[0] - px)
					sv(pt[1] - py)
					px, py = pt[0], pt[1]
				}
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
