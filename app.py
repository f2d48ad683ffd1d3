"""bertviz-lite from a checkout: `streamlit run app.py` (or `bash scripts/app.sh`).

The app ships in the package (bertviz_lite/app/main.py, its pages in bertviz_lite/app/pages/);
an installed copy starts with `bertviz-lite app`."""

from bertviz_lite.app.main import main

main()
