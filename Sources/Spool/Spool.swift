import SpoolRing
