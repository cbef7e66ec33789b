"""Everything that touches fsspec: the blob store and the storage-connection providers."""
