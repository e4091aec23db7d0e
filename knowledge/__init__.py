"""Library files, parsing, chunking, embeddings, the vector index, retrieval and jobs."""
