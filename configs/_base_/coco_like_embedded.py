# The COCO-like split of the embedded data (`tools/make_embedded_data.py --preset coco-like`,
# docs/embedded_data.md): 256-px images, ~7.6 objects each, COCO's small/medium/large shares,
# 10 classes told apart by outline and texture, not colour. Inherit it next to a demo detector
# config; the names are new keys, so they never clash with a full-scale base. Masks are
# compressed RLE: keep LoadAnnotations' default poly2mask=True (False drops them silently).
coco_like_root = 'data/embedded-coco-like/'
coco_like_metainfo = dict(classes=(
    'circle', 'triangle', 'rectangle', 'star', 'hexagon', 'cross', 'ellipse', 'striped-ellipse',
    'checkered-ellipse', 'dotted-ellipse'))
coco_like_num_classes = 10
