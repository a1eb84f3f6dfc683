"""retinad's reference trainer: turns a recorded dataset (.npz) into model files.

    /usr/bin/python3 -m train DATA.npz --model bncnn|ln --out PREFIX [--seed N ...]

writes PREFIX.rtm (retinad's native format, infer/doc.go), PREFIX.onnx (torch.onnx.export,
opset 13, with retinad's metadata), PREFIX.pt (a torch-deep-retina checkpoint) and PREFIX.json
(the held-out report). ``python3 -m train.paper`` runs the paper's comparison (``make paper``);
``python3 -m train.golden DIR`` writes the importers' golden fixtures. Run from the repository
root with Debian's /usr/bin/python3 (PyTorch 1.13). Never needed at run time.
"""
