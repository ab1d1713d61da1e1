"""Pure computation on DataFrames: no docker, no SQL, no Streamlit, no clock."""
