package verify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// item is one bundle to verify: its bytes (a JSONL line), or a file the
// worker reads itself so that reading is parallel too.
type item struct {
	seq  int
	name string
	path string
	data []byte
	err  error
}

// isBundleFile says which files in a directory are bundles: .json
// (including .sigstore.json), .jsonl and .sigstore.
func isBundleFile(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".jsonl") || strings.HasSuffix(n, ".sigstore")
}

// enumerate sends every bundle under paths, in a stable order. A file named
// explicitly is read whatever its extension; in a directory only bundle
// files are. Symbolic links in directories are not followed: an auditor's
// directory is not a way to read files outside it.
func enumerate(ctx context.Context, paths []string, maxBundle int64, out chan<- item) {
	seq := 0
	send := func(it item) bool {
		it.seq = seq
		seq++
		select {
		case out <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	file := func(path string) bool {
		if strings.HasSuffix(strings.ToLower(path), ".jsonl") {
			return jsonLines(ctx, path, maxBundle, send)
		}
		return send(item{name: path, path: path})
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			if !send(item{name: p, err: fmt.Errorf("read bundle: %w", err)}) {
				return
			}
			continue
		}
		if !st.IsDir() {
			if !file(p) {
				return
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if !send(item{name: path, err: fmt.Errorf("read bundle: %w", err)}) {
					return ctx.Err()
				}
				return nil
			}
			if !d.Type().IsRegular() || !isBundleFile(d.Name()) {
				return nil
			}
			if !file(path) {
				return ctx.Err()
			}
			return nil
		})
		if err != nil {
			return
		}
	}
}

// jsonLines sends each non-empty line of a JSONL file as its own bundle,
// named PATH:LINE. A line over the cap is a failed record; the rest of the
// file is still read.
func jsonLines(ctx context.Context, path string, maxBundle int64, send func(item) bool) bool {
	f, err := os.Open(path)
	if err != nil {
		return send(item{name: path, err: fmt.Errorf("read bundle: %w", err)})
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for line := 1; ; line++ {
		if ctx.Err() != nil {
			return false
		}
		data, tooLong, err := readLine(r, maxBundle)
		name := fmt.Sprintf("%s:%d", path, line)
		if tooLong {
			if !send(item{name: name, err: fmt.Errorf("read bundle: line larger than %d bytes", maxBundle)}) {
				return false
			}
		} else if len(strings.TrimSpace(string(data))) > 0 {
			if !send(item{name: name, data: data}) {
				return false
			}
		}
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return send(item{name: name, err: fmt.Errorf("read bundle: %w", err)})
		}
	}
}

// readLine reads one line without its newline, holding at most limit bytes;
// a longer line is consumed and reported as too long.
func readLine(r *bufio.Reader, limit int64) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if int64(len(line)+len(chunk)) > limit+1 { // +1: the newline
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return []byte(strings.TrimRight(string(line), "\r\n")), tooLong, err
	}
}

// readCapped reads a whole file of at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read bundle: larger than %d bytes", limit)
	}
	return data, nil
}
