import os
import sys

# Tests run from train/ (cd train && python3 -m pytest tests); the package is imported as `train`.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
