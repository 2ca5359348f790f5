"""SRS in Python: a live-streaming server cluster in the image of SRS 2.0/3.0.

Layers, lowest first: core -> kernel -> protocol -> app -> main. A layer imports only lower ones;
kernel and protocol are sans-IO (see trunk/utest/test_layering.py).
"""
