//go:build cgo

package acquisition

import (
	"crypto/rand"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"retinad/hdf5"
	"retinad/infer/dataset"
)

// NWBVersion is the version of the NWB schema WriteNWB follows (core 2.6.0 with hdmf-common
// 1.5.1, the versions Debian's python3-hdmf validates against).
const NWBVersion = "2.6.0"

// WriteNWB writes the dataset Export made of a session (with the summary it returned) as an
// NWB 2.x file (HDF5) at path. Times are seconds from the session's START on the host clock
// (timestamps_reference_time is its wall-clock time; general/notes gives its host_ns):
//
//   - /stimulus/presentation/stimulus: ImageSeries [bin, y, x] contrast, timestamps the bins'
//     starts (photodiode-confirmed onsets, or estimated: see /intervals/bins);
//   - /units: spike times per cell id (the acquisition clock mapped to host time);
//   - /processing/predictions/<model>: TimeSeries [bin, cell] spikes/s per model;
//   - /intervals/frames (every session frame's placed onset, flip, latency, whether the
//     photodiode confirmed it ...), /intervals/bins, /intervals/events (the marks, label and
//     note) and /intervals/sync_edges: TimeIntervals;
//   - /general/data_collection: the daemon's config YAML; session_id, source_script, notes.
//
// README.md ("Exports for NWB and MATLAB") shows how to open it.
func WriteNWB(path string, d *dataset.Dataset, sum *ExportSummary) error {
	f, err := hdf5.Create(path, hdf5.CreateOptions{})
	if err != nil {
		return fmt.Errorf("acquisition: nwb: %w", err)
	}
	w := &nwbWriter{d: d, sum: sum}
	w.file(f)
	if err := f.Close(); w.err == nil {
		w.err = err
	}
	if w.err != nil {
		os.Remove(path) // a partial file is not an NWB file
		return fmt.Errorf("acquisition: nwb: %w", w.err)
	}
	return nil
}

// nwbWriter writes one file; the first error sticks and the later steps do nothing.
type nwbWriter struct {
	d      *dataset.Dataset
	sum    *ExportSummary
	err    error
	t0, u0 int64 // time zero on the host clock and on the wall clock, ns
}

func (w *nwbWriter) file(f *hdf5.File) {
	w.timeZero()
	root := f.Root()
	w.typed(root, "core", "NWBFile")
	w.attr(root, "nwb_version", NWBVersion)
	now := time.Now().UTC()
	w.write(root, "file_create_date", []string{isoTime(now)})
	session := w.str("session")
	w.scalar(root, "identifier", "retinad "+session+" "+uuid4())
	w.scalar(root, "session_description", w.description())
	w.scalar(root, "session_start_time", isoTime(time.Unix(0, w.u0)))
	w.scalar(root, "timestamps_reference_time", isoTime(time.Unix(0, w.u0)))
	for _, name := range []string{"acquisition", "analysis"} {
		w.group(root, name)
	}
	stim := w.group(root, "stimulus")
	w.group(stim, "templates")
	w.stimulus(w.group(stim, "presentation"))
	w.general(w.group(root, "general"), session)
	w.predictions(w.group(w.group(root, "processing"), "predictions"))
	iv := w.group(root, "intervals")
	w.frames(iv)
	w.bins(iv)
	w.events(iv)
	w.syncEdges(iv)
	w.units(root)
}

// timeZero is the session's START (host and wall clock), or the first bin's start when the
// record has no START.
func (w *nwbWriter) timeZero() {
	if s := w.sum.Start; s != nil && s.HostNs != 0 {
		w.t0, w.u0 = s.HostNs, s.UnixNs
		return
	}
	if start := w.i64("bin_start_host_ns"); len(start) > 0 {
		w.t0 = start[0]
	}
	host, unix, ok := w.i64("frame_onset_host_ns"), w.i64("frame_onset_unix_ns"), w.u8("frame_confirmed")
	for f := range min(len(ok), len(host), len(unix)) {
		if ok[f] == 1 {
			w.u0 = w.t0 + unix[f] - host[f]
			return
		}
	}
}

func (w *nwbWriter) description() string {
	s := fmt.Sprintf("retinad session %s", w.str("session"))
	if st := w.sum.Start; st != nil {
		if st.Rig != "" {
			s += " on rig " + st.Rig
		}
		if st.Note != "" {
			s += ": " + st.Note
		}
	}
	return s
}

func (w *nwbWriter) general(g *hdf5.Group, session string) {
	w.scalar(g, "session_id", session)
	w.scalar(g, "data_collection", w.str("config_yaml"))
	nwbDS{w.scalarDS(g, "source_script", "retinad "+w.str("version")+" (retinad export --format nwb)")}.attr(w, "file_name", "retinad")
	notes := fmt.Sprintf("host_ns_at_time_zero: %d\nTime 0 is the session's START on the daemon's host monotonic clock (host_ns above); "+
		"timestamps_reference_time is its wall-clock time. data_collection holds the daemon's config (YAML).\n", w.t0)
	if w.sum.Stop == nil {
		notes += "The record holds no STOP for this session: it was interrupted or still ran, and this is what was recorded.\n"
	}
	var rep strings.Builder
	w.sum.Report(&rep)
	w.scalar(g, "notes", notes+"Export: "+rep.String())
}

// sec is a host time in seconds from time zero.
func (w *nwbWriter) sec(ns int64) float64 { return float64(ns-w.t0) / 1e9 }

func (w *nwbWriter) secs(ns []int64) []float64 {
	out := make([]float64, len(ns))
	for i, v := range ns {
		out[i] = w.sec(v)
	}
	return out
}

func (w *nwbWriter) stimulus(g *hdf5.Group) {
	d := w.d
	ts := w.timeSeries(g, "stimulus", "ImageSeries", fmt.Sprintf("the stimulus of each bin (%g bins/s), as the models were fed: contrast, [bin, y, x]; a bin of several frames is their mean", d.FrameRate),
		d.Stimulus, []int{d.T, d.H, d.W}, "contrast", w.secs(w.i64("bin_start_host_ns")))
	w.attr(ts, "comments", "timestamps are the bins' starts: photodiode-confirmed onsets where /intervals/bins says timed")
}

func (w *nwbWriter) predictions(g *hdf5.Group) {
	w.typed(g, "core", "ProcessingModule")
	w.attr(g, "description", "retinad's models' predicted firing rates, per bin (row) and cell (column), published live")
	times := w.secs(w.i64("bin_start_host_ns"))
	for _, a := range w.d.Extra {
		name, ok := strings.CutPrefix(a.Name, "pred_")
		if !ok || strings.HasSuffix(name, "_cell_ids") {
			continue
		}
		ids := w.i64(a.Name + "_cell_ids")
		w.timeSeries(g, name, "TimeSeries", fmt.Sprintf("model %s: predicted rate of cells %v (columns; -1: not said); NaN where no prediction was published", name, ids),
			a.Data, a.Shape, "spikes/s", times)
	}
}

func (w *nwbWriter) frames(iv *hdf5.Group) {
	start := w.i64("frame_start_host_ns")
	N := len(start)
	stop := make([]float64, N)
	for f := range N - 1 {
		stop[f] = w.sec(start[f+1])
	}
	period := 1 / w.d.FrameRate
	if N > 1 {
		period = float64(start[N-1]-start[0]) / 1e9 / float64(N-1)
	}
	if N > 0 {
		stop[N-1] = w.sec(start[N-1]) + period
	}
	flip, lat, rec := w.i64("frame_flip_host_ns"), w.i64("frame_latency_ns"), w.u8("frame_recorded")
	flipSec := make([]float64, N)
	for f := range N {
		flipSec[f] = math.NaN()
		if rec[f] == 1 {
			flipSec[f] = w.sec(flip[f])
		}
	}
	w.table(iv, "frames", "core", "TimeIntervals", "every session frame: start_time is its onset, photodiode-confirmed where confirmed is 1, else its flip plus the session's median latency (or placed between its neighbours when not recorded)",
		seq(N, func(f int) int64 { return int64(f) }), []column{
			{"start_time", "onset (s)", w.secs(start)},
			{"stop_time", "the next frame's onset (s)", stop},
			{"confirmed", "1: the photodiode confirmed the onset", w.u8("frame_confirmed")},
			{"recorded", "1: the frame's onset message is in the record", rec},
			{"rebuilt", "1: its pixels were rebuilt or recorded (0: gray in the stimulus)", w.u8("frame_rebuilt")},
			{"flip_time", "when the presenter's buffer swap returned (s; NaN: not recorded)", flipSec},
			{"latency", "onset - flip (s; 0 when not confirmed)", scale(lat, 1e-9)},
			{"display_frame", "the display's frame number", w.i64("frame_display")},
			{"stimulus_index", "the frame's index in its stimulus source", w.i64("frame_index")},
			{"dropped_before", "frames the display dropped before this one", w.i64("frame_dropped_before")},
			{"link_lost", "1: the photodiode link lost messages around this frame", w.u8("frame_link_lost")},
		})
}

func (w *nwbWriter) bins(iv *hdf5.Group) {
	start := w.i64("bin_start_host_ns")
	T := len(start)
	stop := make([]float64, T)
	for t := range T {
		if t+1 < T {
			stop[t] = w.sec(start[t+1])
		} else {
			stop[t] = w.sec(start[t]) + 1/w.d.FrameRate
		}
	}
	w.table(iv, "bins", "core", "TimeIntervals", "the dataset's bins (rows of the stimulus, predictions and counts)",
		seq(T, func(t int) int64 { return int64(t) }), []column{
			{"start_time", "the onset of the bin's first frame (s)", w.secs(start)},
			{"stop_time", "the next bin's start (s)", stop},
			{"timed", "1: both edges are photodiode-confirmed onsets", w.u8("bin_timed")},
			{"spikes_covered", "1: the recorded spike batches cover the bin whole", w.u8("bin_spikes_covered")},
			{"first_frame", "the session frame the bin begins with", w.i64("bin_first_frame")},
		})
}

func (w *nwbWriter) events(iv *hdf5.Group) {
	at := w.secs(w.i64("event_host_ns"))
	w.table(iv, "events", "core", "TimeIntervals", "the experimenter's marks (retinad mark), instants: start_time = stop_time",
		seq(len(at), func(i int) int64 { return int64(i) }), []column{
			{"start_time", "when the mark was made (s)", at},
			{"stop_time", "= start_time", at},
			{"label", "the mark's label", w.strs("event_label")},
			{"note", "the mark's note", w.strs("event_note")},
		})
}

func (w *nwbWriter) syncEdges(iv *hdf5.Group) {
	at := w.secs(w.i64("sync_host_ns"))
	fit := w.f64("clock_fit")
	if len(fit) != 2 {
		fit = []float64{0, 1}
	}
	w.table(iv, "sync_edges", "core", "TimeIntervals", fmt.Sprintf("the acquisition system's sync edges, on host time by the clock fit host_ns = %.17g + %.17g * acq_ns", fit[0], fit[1]),
		seq(len(at), func(i int) int64 { return int64(i) }), []column{
			{"start_time", "the edge on host time (s)", at},
			{"stop_time", "= start_time", at},
			{"acq_ns", "the edge on the acquisition clock (ns)", w.i64("sync_acq_ns")},
			{"frame", "the session frame it marks (-1: none)", w.i64("sync_frame")},
			{"rising", "1: a rising edge", w.u8("sync_rising")},
			{"seq", "the sync message's sequence number", w.i64("sync_seq")},
		})
}

// units is the units table: one row per cell id, with its spike times.
func (w *nwbWriter) units(root *hdf5.Group) {
	cells, host := w.i64("spike_cells"), w.i64("spike_host_ns")
	index := make([]uint64, len(w.d.CellIDs))
	for c, id := range w.d.CellIDs { // spikes are ordered by cell id, and CellIDs ascend
		n, _ := slices.BinarySearch(cells, id+1)
		index[c] = uint64(n)
	}
	g := w.group(root, "units")
	w.typed(g, "core", "Units")
	w.attr(g, "colnames", []string{"spike_times"})
	w.attr(g, "description", "the recorded cells (ids as the acquisition system numbers them); spike times on the host clock through the sync edges' clock fit, those within the bins")
	w.write(g, "id", w.d.CellIDs).typed(w, "hdmf-common", "ElementIdentifiers")
	st := w.write(g, "spike_times", w.secs(host))
	st.typed(w, "hdmf-common", "VectorData")
	st.attr(w, "description", "spike times (s)")
	ix := w.write(g, "spike_times_index", index)
	ix.typed(w, "hdmf-common", "VectorIndex")
	ix.attr(w, "description", "index into spike_times: cell i's spikes end at row index[i]")
	ix.attr(w, "target", hdf5.Ref("/units/spike_times"))
}

// column is one column of a DynamicTable: a 1-D slice, one value per row.
type column struct {
	name, desc string
	data       any
}

func (w *nwbWriter) table(parent *hdf5.Group, name, ns, typ, desc string, ids []int64, cols []column) {
	g := w.group(parent, name)
	w.typed(g, ns, typ)
	w.attr(g, "description", desc)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	w.attr(g, "colnames", names)
	w.write(g, "id", ids).typed(w, "hdmf-common", "ElementIdentifiers")
	for _, c := range cols {
		ds := w.write(g, c.name, c.data)
		ds.typed(w, "hdmf-common", "VectorData")
		ds.attr(w, "description", c.desc)
	}
}

// timeSeries writes a TimeSeries (or a type derived from it) with its data and timestamps.
func (w *nwbWriter) timeSeries(parent *hdf5.Group, name, typ, desc string, data any, shape []int, unit string, times []float64) *hdf5.Group {
	g := w.group(parent, name)
	w.typed(g, "core", typ)
	w.attr(g, "description", desc)
	ds := w.write(g, "data", data, shape...)
	ds.attr(w, "unit", unit)
	ds.attr(w, "conversion", float32(1))
	ds.attr(w, "offset", float32(0))
	ds.attr(w, "resolution", float32(-1))
	ts := w.write(g, "timestamps", times)
	ts.attr(w, "interval", int32(1))
	ts.attr(w, "unit", "seconds")
	if w.err != nil {
		return nil
	}
	return g
}

func (w *nwbWriter) group(parent *hdf5.Group, name string) *hdf5.Group {
	if w.err != nil || parent == nil {
		return nil
	}
	g, err := parent.CreateGroup(name)
	w.err = err
	return g
}

// nwbDS is a dataset just written (nil after an error).
type nwbDS struct{ ds *hdf5.Dataset }

func (w *nwbWriter) write(g *hdf5.Group, name string, data any, shape ...int) nwbDS {
	if w.err != nil || g == nil {
		return nwbDS{}
	}
	ds, err := g.Write(name, data, shape...)
	w.err = err
	return nwbDS{ds}
}

func (w *nwbWriter) scalarDS(g *hdf5.Group, name string, v any) *hdf5.Dataset {
	if w.err != nil || g == nil {
		return nil
	}
	ds, err := g.WriteScalar(name, v)
	w.err = err
	return ds
}

func (w *nwbWriter) scalar(g *hdf5.Group, name string, v any) {
	if ds := w.scalarDS(g, name, v); ds != nil {
		w.err = ds.Close()
	}
}

func (d nwbDS) attr(w *nwbWriter, name string, v any) {
	if w.err == nil && d.ds != nil {
		w.err = d.ds.SetAttr(name, v)
	}
}

func (d nwbDS) typed(w *nwbWriter, ns, typ string) {
	d.attr(w, "namespace", ns)
	d.attr(w, "neurodata_type", typ)
	d.attr(w, "object_id", uuid4())
}

func (w *nwbWriter) attr(g *hdf5.Group, name string, v any) {
	if w.err == nil && g != nil {
		w.err = g.SetAttr(name, v)
	}
}

// typed marks a group as an instance of a neurodata type of namespace ns.
func (w *nwbWriter) typed(g *hdf5.Group, ns, typ string) {
	w.attr(g, "namespace", ns)
	w.attr(g, "neurodata_type", typ)
	w.attr(g, "object_id", uuid4())
}

// extra is the dataset's extra array name, which Export always makes.
func (w *nwbWriter) extra(name string) (dataset.Array, bool) {
	for _, a := range w.d.Extra {
		if a.Name == name {
			return a, true
		}
	}
	if w.err == nil {
		w.err = fmt.Errorf("the dataset has no %q array (not one that retinad export made)", name)
	}
	return dataset.Array{}, false
}

func extraOf[T any](w *nwbWriter, name string) []T {
	a, ok := w.extra(name)
	if !ok {
		return nil
	}
	v, ok := a.Data.([]T)
	if !ok && w.err == nil {
		w.err = fmt.Errorf("the dataset's %q array holds %T, want %T", name, a.Data, v)
	}
	return v
}

func (w *nwbWriter) i64(name string) []int64   { return extraOf[int64](w, name) }
func (w *nwbWriter) u8(name string) []uint8    { return extraOf[uint8](w, name) }
func (w *nwbWriter) f64(name string) []float64 { return extraOf[float64](w, name) }
func (w *nwbWriter) strs(name string) []string { return extraOf[string](w, name) }
func (w *nwbWriter) str(name string) string {
	if s := w.strs(name); len(s) == 1 {
		return s[0]
	}
	return ""
}

func scale(v []int64, k float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x) * k
	}
	return out
}

// isoTime is t in UTC as ISO 8601 with microseconds, as NWB's isodatetime wants.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// uuid4 is a random UUID (version 4), NWB's object_id.
func uuid4() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
