"""retinad's reference trainer: turns a recorded dataset (.npz) into model files.

Run it as ``/usr/bin/python3 -m train --help`` from the repository root. It is never needed at
run time: the daemon reads the files it writes (ONNX, torch-deep-retina checkpoints, and the
native format once retinad's Go side specifies it).
"""
