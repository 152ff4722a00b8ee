from configparser import ConfigParser
from pathlib import Path
import setuptools

# nbdev 2 convention: all settings live in settings.ini; the pinned dependencies live in requirements.txt,
# the one list every install path uses (scripts/setup.sh, CI, `pip install -e .`).
config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

reqs = [l.split('#')[0].strip() for l in Path('requirements.txt').read_text().splitlines()]
reqs = [r for r in reqs if r]
py_versions = '3.10 3.11 3.12'.split()
min_python = cfg['min_python']
lic = ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    license=lic[0], classifiers=['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'], packages=setuptools.find_packages(include=['cvp', 'cvp.*']), include_package_data=True,
    install_requires=reqs, python_requires='>=' + cfg['min_python'],
    long_description=open('README.md', encoding='utf-8').read() if Path('README.md').exists() else '',
    long_description_content_type='text/markdown', zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(), 'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d']},
)
