# Copyright (c) ifam_mm contributors. All rights reserved.
"""The HTML page of a run: content, relative links, escaping, a browser."""
import os
import os.path as osp
import re
import subprocess

import cv2
import numpy as np
import pytest

from ifam_mm.visualization import write_html_report

CHROMIUM = '/usr/bin/chromium'
# After every image has loaded or failed, the page says how many failed.
IMAGE_CHECK = """<script>
window.onload = function () {
  var images = Array.from(document.images);
  var broken = images.filter(function (i) { return i.naturalWidth === 0; });
  var p = document.createElement('p');
  p.id = 'image-check';
  p.textContent = 'images ' + images.length + ' broken ' + broken.length;
  document.body.appendChild(p);
};
</script>"""


def png(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((40, 60, 3), colour, np.uint8))
    return str(path)


def sample_page(tmp_path):
    """A page in tmp/run linking a chart and two overlays in subfolders."""
    chart = png(tmp_path / 'run' / 'chart.png', (255, 0, 0))
    first = png(tmp_path / 'run' / 'audit' / 'parts_0_a b.png', (0, 255, 0))
    second = png(tmp_path / 'run' / 'audit' / 'parts_1_c.png', (0, 0, 255))
    page = write_html_report(
        str(tmp_path / 'run' / 'index.html'),
        'Run <1> & "friends"',
        text=['WGA < 0.5 & AA > 0.9'],
        table=[['model', 'WGA'], ['ifam', '0.750'], ['<erm>', '0.100']],
        checks=['The method works (ifam): PASS'],
        charts=[('Per-group accuracy', chart)],
        galleries=[('part 0', [(first, '60% 0_a b'), (second, '20% 1_c')]),
                   ('part 1', [])])
    return page, [chart, first, second]


def test_page_shows_table_checks_charts_and_galleries(tmp_path):
    page, _ = sample_page(tmp_path)
    assert page == str(tmp_path / 'run' / 'index.html')
    with open(page) as f:
        text = f.read()
    assert text.startswith('<!DOCTYPE html>')
    assert '<tr><th>model</th><th>WGA</th></tr>' in text
    assert '<tr><td>ifam</td><td>0.750</td></tr>' in text
    assert '<li>The method works (ifam): PASS</li>' in text
    assert '<h2>Per-group accuracy</h2>' in text
    assert '<img class="chart" src="chart.png"' in text
    # Each thumbnail links to its full image, relative to the page (the
    # space URL-quoted); a part without images says so.
    assert ('<a href="audit/parts_0_a%20b.png"><img src="audit/parts_0_a'
            '%20b.png" alt="60% 0_a b"></a><figcaption>60% 0_a b'
            '</figcaption>') in text
    assert '<a href="audit/parts_1_c.png">' in text
    assert '<h2>part 1</h2>\n<p>(no image)</p>' in text
    # Nothing absolute, nothing fetched, no script.
    assert str(tmp_path) not in text
    assert 'http' not in text and '<script' not in text


def test_text_is_escaped(tmp_path):
    page, _ = sample_page(tmp_path)
    with open(page) as f:
        text = f.read()
    assert '<title>Run &lt;1&gt; &amp; &quot;friends&quot;</title>' in text
    assert '<p>WGA &lt; 0.5 &amp; AA &gt; 0.9</p>' in text
    assert '<td>&lt;erm&gt;</td>' in text
    assert '<erm>' not in text


def test_links_to_images_above_the_page(tmp_path):
    chart = png(tmp_path / 'chart.png', (0, 0, 0))
    (tmp_path / 'sub').mkdir()
    page = write_html_report(
        str(tmp_path / 'sub' / 'index.html'), 'Run',
        charts=[('chart', chart)])
    with open(page) as f:
        assert 'src="../chart.png"' in f.read()


def test_a_missing_image_is_refused_by_name(tmp_path):
    missing = str(tmp_path / 'parts_3_x_0.png')
    with pytest.raises(ValueError) as error:
        write_html_report(
            str(tmp_path / 'index.html'),
            'Run',
            galleries=[('part 0', [(missing, 'x')])])
    assert str(error.value).startswith(f'{missing} does not exist, so ')
    assert 'Write the image before the page' in str(error.value)
    assert not osp.exists(tmp_path / 'index.html')


def chromium(*args, user_data_dir):
    """Run headless Chromium offline; returns its stdout."""
    result = subprocess.run([
        CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
        '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
        f'--user-data-dir={user_data_dir}', '--virtual-time-budget=5000',
        *args
    ],
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def broken_images(page, user_data_dir):
    """(images, broken images) of ``page`` as Chromium loads it: a copy
    beside it, so its relative links still resolve, reports them."""
    with open(page) as f:
        text = f.read()
    probe = osp.join(osp.dirname(page), '_image_check.html')
    with open(probe, 'w') as f:
        f.write(text.replace('</body>', IMAGE_CHECK + '\n</body>'))
    dom = chromium('--dump-dom', f'file://{probe}',
                   user_data_dir=user_data_dir)
    found = re.search(r'<p id="image-check">images (\d+) broken (\d+)</p>',
                      dom)
    assert found, dom[-2000:]
    return int(found.group(1)), int(found.group(2))


def test_every_image_loads_in_chromium(tmp_path):
    if not osp.exists(CHROMIUM):
        pytest.skip('Chromium is absent: apt-get install chromium')
    page, images = sample_page(tmp_path)
    user_data_dir = str(tmp_path / 'chromium')

    assert broken_images(page, user_data_dir) == (3, 0)
    shot = str(tmp_path / 'shot.png')
    chromium(
        f'--screenshot={shot}',
        '--window-size=1280,2000',
        f'file://{page}',
        user_data_dir=user_data_dir)
    pixels = cv2.imread(shot)
    assert pixels.shape == (2000, 1280, 3)
    # The chart's and overlays' colours are on the white page.
    colours = {tuple(c) for c in pixels.reshape(-1, 3)[::7].tolist()}
    assert {(255, 255, 255), (255, 0, 0), (0, 255, 0)} <= colours

    # The check itself sees an image that went missing after the page.
    os.remove(images[2])
    assert broken_images(page, user_data_dir) == (3, 1)
