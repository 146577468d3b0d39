"""A glacier's reference geometry, on the ground floor: what ``predict`` and ``series`` both measure against.

    reference.py   Reference, read_boxes, read_centrelines: a glacier's box or centre-line from a vector file
    frame.py       box_frame, BoxFrame, Glacier, check_box, parse_upstream: a box in its equal-area frame,
                   oriented upstream
    equal_area.py  equal_area_crs, true_area_m2, reproject: true areas and ground distances near one place

Nothing is imported here: import from the modules.
"""
