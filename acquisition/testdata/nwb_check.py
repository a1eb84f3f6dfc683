"""Validate an NWB file from `retinad export --format nwb` and compare it with the .npz export
of the same session.

    /usr/bin/python3 nwb_check.py FILE.nwb FILE.npz

Validation: hdmf's validator (Debian's python3-hdmf, without pynwb) against the NWB core
2.6.0 schema vendored beside this script (nwb-schema-2.6.0/, from
github.com/NeurodataWithoutBorders/nwb-schema at tag 2.6.0) and hdmf-common 1.5.1 as hdmf
bundles it. The NWB specs name types with neurodata_type_*, so the spec classes are declared
here as pynwb declares them (pynwb/spec.py). Then h5py reads the file back: the stimulus,
frame times, spike times and predictions must equal the .npz's. Prints "ok" or raises.
"""
import os
import sys

import h5py
import numpy as np
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import BuildManager
from hdmf.common import get_type_map
from hdmf.spec import DatasetSpec, GroupSpec, NamespaceCatalog, SpecNamespace
from hdmf.validate import ValidatorMap


class NWBKeys:
    """The NWB spelling of hdmf's data_type keys (what pynwb.spec does)."""

    @classmethod
    def type_key(cls): return "neurodata_type"

    @classmethod
    def inc_key(cls): return "neurodata_type_inc"

    @classmethod
    def def_key(cls): return "neurodata_type_def"

    @classmethod
    def build_const_args(cls, spec_dict):
        ret = super().build_const_args(spec_dict)
        for k in ("def", "inc"):
            if "neurodata_type_" + k in ret:
                ret["data_type_" + k] = ret.pop("neurodata_type_" + k)
        return ret


class NWBDatasetSpec(NWBKeys, DatasetSpec):
    pass


class NWBGroupSpec(NWBKeys, GroupSpec):
    @classmethod
    def dataset_spec_cls(cls): return NWBDatasetSpec


class NWBNamespace(SpecNamespace):
    @classmethod
    def types_key(cls): return "neurodata_types"


def validate(path):
    schema = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nwb-schema-2.6.0", "nwb.namespace.yaml")
    tm = get_type_map()  # hdmf-common, as hdmf bundles it
    catalog = NamespaceCatalog(NWBGroupSpec, NWBDatasetSpec, NWBNamespace)
    for name in tm.namespace_catalog.namespaces:
        catalog.add_namespace(name, tm.namespace_catalog.get_namespace(name))
    catalog.load_namespaces(schema)
    core = catalog.get_namespace("core")
    assert core.get("version") in ("2.6.0", "2.6.0-alpha"), core.get("version")
    with HDF5IO(path, mode="r", manager=BuildManager(tm)) as io:
        builder = io.read_builder()
        errors = ValidatorMap(core).validate(builder)
    if errors:
        raise SystemExit("NWB validation: %d errors:\n%s" % (len(errors), "\n".join(map(str, errors))))


def compare(path, npz):
    z = np.load(npz)
    with h5py.File(path, "r") as f:
        assert f.attrs["nwb_version"] == "2.6.0" and f.attrs["neurodata_type"] == "NWBFile", dict(f.attrs)
        notes = f["general/notes"][()].decode()
        t0 = int(notes.split("host_ns_at_time_zero: ")[1].split()[0])
        ns = lambda s: np.round(np.asarray(s) * 1e9).astype(np.int64) + t0

        st = f["stimulus/presentation/stimulus"]
        assert np.array_equal(st["data"][:], z["stimulus"]), "stimulus"
        assert np.array_equal(ns(st["timestamps"][:]), z["bin_start_host_ns"]), "stimulus timestamps"
        fr = f["intervals/frames"]
        assert np.array_equal(ns(fr["start_time"][:]), z["frame_start_host_ns"]), "frame times"
        assert np.array_equal(fr["confirmed"][:], z["frame_confirmed"]), "frame confirmed"
        onset = ns(fr["start_time"][:])[z["frame_confirmed"] == 1]
        assert np.array_equal(onset, z["frame_onset_host_ns"][z["frame_confirmed"] == 1]), "confirmed onsets"

        u = f["units"]
        ids, idx, times = u["id"][:], u["spike_times_index"][:], u["spike_times"][:]
        assert np.array_equal(ids, z["cell_ids"]), "unit ids"
        assert f[u["spike_times_index"].attrs["target"]].name == "/units/spike_times"
        start = 0
        for c, cell in enumerate(ids):
            mine = ns(times[start:idx[c]])
            want = z["spike_host_ns"][z["spike_cells"] == cell]
            assert np.array_equal(mine, want), "spikes of cell %d" % cell
            edges = np.append(z["bin_start_host_ns"], np.iinfo(np.int64).max)
            assert np.array_equal(np.histogram(mine, edges)[0], z["counts"][:, c]), "counts of cell %d" % cell
            start = idx[c]

        preds = f["processing/predictions"]
        names = sorted(k[5:] for k in z.files if k.startswith("pred_") and not k.endswith("_cell_ids"))
        assert sorted(preds.keys()) == names, (sorted(preds.keys()), names)
        for m in names:
            assert np.array_equal(preds[m]["data"][:], z["pred_" + m], equal_nan=True), "predictions of " + m
            assert np.array_equal(ns(preds[m]["timestamps"][:]), z["bin_start_host_ns"]), "prediction times of " + m

        ev = f["intervals/events"]
        assert np.array_equal(ns(ev["start_time"][:]), z["event_host_ns"]), "event times"
        assert [s.decode() for s in ev["label"][:]] == list(z["event_label"]), "event labels"
        assert f["general/data_collection"][()].decode() == str(z["config_yaml"][()]), "config"


if __name__ == "__main__":
    validate(sys.argv[1])
    compare(sys.argv[1], sys.argv[2])
    print("ok")
