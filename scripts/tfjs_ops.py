"""Regenerate src/modelport/tensorflow/tfjs_ops.json: the TensorFlow ops TF.js graph models can
run, read from the op mappers of the installed npm package @tensorflow/tfjs-converter.

usage: python scripts/tfjs_ops.py [TFJS_CONVERTER_DIR]   (default: tests/node/node_modules/...)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONVERTER = ROOT / "tests" / "node" / "node_modules" / "@tensorflow" / "tfjs-converter"
OUTPUT = ROOT / "src" / "modelport" / "tensorflow" / "tfjs_ops.json"

# operation_mapper.js imports each op list module (`import * as basicMath from
# './op_list/basic_math'`) and builds its op table from the ones named in `const ops = [...]`;
# op list files it does not load (ragged, tfdf) are not runnable by loadGraphModel.
_IMPORT = re.compile(r"import \* as (\w+) from '\./op_list/(\w+)'")
_OPS_ARRAY = re.compile(r"const ops = \[([^\]]*)\]")
_OP_NAME = re.compile(r"'tfOpName':\s*'([^']+)'")


def supported_ops(converter_dir: Path = DEFAULT_CONVERTER) -> dict[str, object]:
    """{"tfjs_converter_version": ..., "ops": sorted op names} for an installed converter."""
    dist = converter_dir / "dist" / "operations"
    mapper = (dist / "operation_mapper.js").read_text(encoding="utf-8")
    modules = dict(_IMPORT.findall(mapper))
    array = _OPS_ARRAY.search(mapper)
    if not modules or array is None:
        raise SystemExit(f"{dist / 'operation_mapper.js'}: op list imports not found; the "
                         "tfjs-converter layout changed, update scripts/tfjs_ops.py")
    ops: set[str] = set()
    for variable in (v.strip() for v in array.group(1).split(",")):
        if variable:
            source = (dist / "op_list" / f"{modules[variable]}.js").read_text(encoding="utf-8")
            ops.update(_OP_NAME.findall(source))
    version = json.loads((converter_dir / "package.json").read_text(encoding="utf-8"))["version"]
    return {"tfjs_converter_version": version, "ops": sorted(ops)}


def main(argv: list[str]) -> int:
    converter = Path(argv[0]) if argv else DEFAULT_CONVERTER
    data = supported_ops(converter)
    OUTPUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    version = data["tfjs_converter_version"]
    print(f"wrote {OUTPUT} ({len(data['ops'])} ops, tfjs-converter {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
