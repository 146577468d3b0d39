"""Reading and writing files: rasters, vectors, CaFFe folders, and atomic writes."""
