// tlog_check: an independent reader of a published forgea_audit log (docs/publishing.md), built on
// Go's golang.org/x/mod/sumdb/tlog and sumdb/note (Debian's golang-golang-x-mod-dev), for
// test/integration/publish_tiles.sh.  Go's paths carry the tile height ("tile/8/0/...", data
// tiles "tile/8/data/..."); C2SP tlog-tiles drops it ("tile/0/...", "tile/entries/..."): the
// only translation made here.
//
//	tlog_check verify DIR VKEY LEAF...   the checkpoint opens with VKEY; the root computed from the
//	                                     tiles (read through tlog.TileHashReader, which authenticates
//	                                     every tile against the checkpoint) equals the checkpoint's;
//	                                     every entry bundle's records hash to the level-0 tile's
//	                                     hashes; each LEAF's inclusion proof, made from the tiles,
//	                                     checks; every tile the size implies (C2SP: one width per
//	                                     tile, the size's) exists with the right length.
//	tlog_check consistency DIR VKEY OLD  OLD (a checkpoint file) and DIR/checkpoint open with VKEY;
//	                                     the consistency proof from OLD's size to today's, made
//	                                     from the tiles (tlog.ProveTree), checks against both roots
//	                                     (tlog.CheckTree): the published log extends OLD.
//	tlog_check proof DIR VKEY LEAF       prints the inclusion proof of LEAF in the checkpoint's
//	                                     tree made from the tiles, one base64 hash per line (the
//	                                     test compares it with the database's inclusion_proof()).
//	tlog_check readloop DIR STOP SEEN    until the file STOP exists: read the checkpoint, then every
//	                                     tile and bundle it implies; a missing or short one is a
//	                                     failure.  Each size read completely is appended to the file
//	                                     SEEN once; prints the number of rounds and of sizes.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog_check: FAIL "+format+"\n", args...)
	os.Exit(1)
}

// The C2SP path of a Go tile coordinate.
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
	if t.L == -1 {
		p = strings.Replace(p, "data/", "entries/", 1)
	}
	return "tile/" + p
}

type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return height }
func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(d.dir, c2spPath(t)))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// origin, size and root of a checkpoint body (C2SP tlog-checkpoint).
func parseBody(text string) (string, tlog.Tree) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		die("checkpoint body has fewer than three lines: %q", text)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 {
		die("checkpoint size %q", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		die("checkpoint root %q", lines[2])
	}
	var t tlog.Tree
	t.N = n
	copy(t.Hash[:], h)
	return lines[0], t
}

// The tiles a tree of n leaves has under C2SP: Go's NewTiles(8, 0, n) lists every width of each
// partial tile; C2SP publishes only the widest (the size's).  Level -1: the entry bundles.
func expectedTiles(n int64) []tlog.Tile {
	widest := map[[2]int64]tlog.Tile{}
	var order [][2]int64
	for _, t := range tlog.NewTiles(height, 0, n) {
		k := [2]int64{int64(t.L), t.N}
		if old, ok := widest[k]; !ok {
			order = append(order, k)
			widest[k] = t
		} else if t.W > old.W {
			widest[k] = t
		}
	}
	var out []tlog.Tile
	for _, k := range order {
		t := widest[k]
		out = append(out, t)
		if t.L == 0 {
			d := t
			d.L = -1
			out = append(out, d)
		}
	}
	return out
}

// The records of an entry bundle: u16be length, then the entry.
func bundleRecords(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("truncated length")
		}
		l := int(b[0])<<8 | int(b[1])
		if len(b) < 2+l {
			return nil, fmt.Errorf("truncated entry")
		}
		out = append(out, b[2:2+l])
		b = b[2+l:]
	}
	return out, nil
}

func verify(dir, vkey string, leaves []int64) {
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		die("%v", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		die("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		die("note.Open: %v", err)
	}
	origin, tree := parseBody(n.Text)
	if origin != v.Name() {
		die("origin %q is not the key name %q", origin, v.Name())
	}
	for _, t := range expectedTiles(tree.N) {
		b, err := os.ReadFile(filepath.Join(dir, c2spPath(t)))
		if err != nil {
			die("tile of the checkpoint's size: %v", err)
		}
		want := t.W * tlog.HashSize
		if t.L == -1 {
			want = t.W * (2 + 32)
		}
		if len(b) != want {
			die("%s has %d bytes, want %d", c2spPath(t), len(b), want)
		}
	}
	hr := tlog.TileHashReader(tree, dirTiles{dir})
	root, err := tlog.TreeHash(tree.N, hr)
	if err != nil {
		die("TreeHash: %v", err)
	}
	if root != tree.Hash {
		die("root from the tiles %v, checkpoint %v", root, tree.Hash)
	}
	// Every entry against its leaf hash (read through the authenticating reader).
	idx := make([]int64, tree.N)
	for i := range idx {
		idx[i] = tlog.StoredHashIndex(0, int64(i))
	}
	leafHashes, err := hr.ReadHashes(idx)
	if err != nil {
		die("ReadHashes: %v", err)
	}
	entries := int64(0)
	for _, t := range expectedTiles(tree.N) {
		if t.L != -1 {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, c2spPath(t)))
		recs, err := bundleRecords(b)
		if err != nil || len(recs) != t.W {
			die("%s: %d records (%v), want %d", c2spPath(t), len(recs), err, t.W)
		}
		for i, r := range recs {
			k := t.N*(1<<height) + int64(i)
			if len(r) != 32 || tlog.RecordHash(r) != leafHashes[k] {
				die("entry %d does not hash to leaf %d's hash", k, k)
			}
			entries++
		}
	}
	for _, l := range leaves {
		p, err := tlog.ProveRecord(tree.N, l, hr)
		if err != nil {
			die("ProveRecord(%d): %v", l, err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, l, leafHashes[l]); err != nil {
			die("CheckRecord(%d): %v", l, err)
		}
	}
	fmt.Printf("ok: %s, %d leaves, root %s from the tiles, %d entries match, %d inclusion proofs check\n",
		origin, tree.N, base64.StdEncoding.EncodeToString(root[:]), entries, len(leaves))
}

// The note in file, opened with vkey: its origin and tree.
func openNote(file, vkey string) (string, tlog.Tree) {
	msg, err := os.ReadFile(file)
	if err != nil {
		die("%v", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		die("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		die("note.Open(%s): %v", file, err)
	}
	return parseBody(n.Text)
}

func consistency(dir, vkey, oldFile string) {
	_, old := openNote(oldFile, vkey)
	origin, tree := openNote(filepath.Join(dir, "checkpoint"), vkey)
	hr := tlog.TileHashReader(tree, dirTiles{dir})
	p, err := tlog.ProveTree(tree.N, old.N, hr)
	if err != nil {
		die("ProveTree(%d, %d): %v", tree.N, old.N, err)
	}
	if err := tlog.CheckTree(p, tree.N, tree.Hash, old.N, old.Hash); err != nil {
		die("CheckTree(%d -> %d): %v", old.N, tree.N, err)
	}
	fmt.Printf("ok: %s, the tree of %d leaves is a prefix of the published %d (%d proof hashes from the tiles)\n",
		origin, old.N, tree.N, len(p))
}

func proof(dir, vkey string, leaf int64) {
	_, tree := openNote(filepath.Join(dir, "checkpoint"), vkey)
	p, err := tlog.ProveRecord(tree.N, leaf, tlog.TileHashReader(tree, dirTiles{dir}))
	if err != nil {
		die("ProveRecord(%d): %v", leaf, err)
	}
	for _, h := range p {
		fmt.Println(base64.StdEncoding.EncodeToString(h[:]))
	}
}

func readloop(dir, stop, seen string) {
	sf, err := os.OpenFile(seen, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0644)
	if err != nil {
		die("%v", err)
	}
	rounds, sizes := 0, map[int64]bool{}
	for {
		if _, err := os.Stat(stop); err == nil {
			break
		}
		msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
		if os.IsNotExist(err) {
			continue // not published yet
		} else if err != nil {
			die("%v", err)
		}
		i := bytes.Index(msg, []byte("\n\n"))
		if i < 0 {
			die("checkpoint without signatures: %q", msg)
		}
		_, tree := parseBody(string(msg[:i+1]))
		for _, t := range expectedTiles(tree.N) {
			b, err := os.ReadFile(filepath.Join(dir, c2spPath(t)))
			if err != nil {
				die("round %d, checkpoint of %d leaves: %v", rounds, tree.N, err)
			}
			want := t.W * tlog.HashSize
			if t.L == -1 {
				want = t.W * 34
			}
			if len(b) != want {
				die("round %d: %s has %d bytes, want %d", rounds, c2spPath(t), len(b), want)
			}
		}
		if !sizes[tree.N] {
			sizes[tree.N] = true
			fmt.Fprintf(sf, "%d\n", tree.N)
		}
		rounds++
	}
	sf.Close()
	fmt.Printf("ok: %d rounds, %d sizes\n", rounds, len(sizes))
}

func main() {
	if len(os.Args) >= 4 && os.Args[1] == "verify" {
		var leaves []int64
		for _, a := range os.Args[4:] {
			l, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				die("leaf %q", a)
			}
			leaves = append(leaves, l)
		}
		verify(os.Args[2], os.Args[3], leaves)
	} else if len(os.Args) == 5 && os.Args[1] == "consistency" {
		consistency(os.Args[2], os.Args[3], os.Args[4])
	} else if len(os.Args) == 5 && os.Args[1] == "proof" {
		l, err := strconv.ParseInt(os.Args[4], 10, 64)
		if err != nil {
			die("leaf %q", os.Args[4])
		}
		proof(os.Args[2], os.Args[3], l)
	} else if len(os.Args) == 5 && os.Args[1] == "readloop" {
		readloop(os.Args[2], os.Args[3], os.Args[4])
	} else {
		fmt.Fprintln(os.Stderr, "usage: tlog_check verify DIR VKEY LEAF... | consistency DIR VKEY OLD | proof DIR VKEY LEAF | readloop DIR STOP SEEN")
		os.Exit(2)
	}
}
