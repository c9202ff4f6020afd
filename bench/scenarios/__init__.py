"""The benchmark scenarios, in the order bench/README.md describes them."""
