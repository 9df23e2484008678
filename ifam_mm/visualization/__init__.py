# Copyright (c) ifam_mm contributors. All rights reserved.
from .html_report import write_html_report
from .palette import part_palette
from .part_gallery import GalleryItem, PartGallery
from .part_map_visualizer import PartMapVisualizer
from .utils import images_from_batch, num_parts_of, sample_name

__all__ = [
    'GalleryItem', 'PartGallery', 'PartMapVisualizer', 'images_from_batch',
    'num_parts_of', 'part_palette', 'sample_name', 'write_html_report'
]
