"""bijective inside the libraries where flows are used: pyro (`pyro.py`: a flow's
as_distribution() is a pyro distribution) and sbi (`sbi.py`: catalogue flows as sbi
density estimators). Each loads only when its library is installed and asked for."""
