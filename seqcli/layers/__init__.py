"""Layer families, one module each. They register their layers when imported; the
registry (seqcli/registry.py) imports a family when one of its layers is needed."""
