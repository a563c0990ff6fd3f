"""modelport's own fuzz harness: seeds in every readable format, structure-aware mutators, and
a forked, resource-limited runner that classifies what each operation did with hostile input."""
