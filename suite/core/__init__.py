"""What both wings share: claims, statistics, decisions, runs, collections, the catalog and the study contract."""
