"""The API-calling fine-tune of Appendix C.2: the API set's calls, samples, scores and the int4 export."""
